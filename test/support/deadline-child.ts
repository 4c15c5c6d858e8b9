/**
 * The child of test/support/deadline.ts: loads the module, says it is ready, then runs the case once asked, so the
 * parent's deadline covers the case only.
 */
interface Request {
  modulePath: string;
  name: string;
}

process.once('message', (request: Request) => {
  void (async () => {
    try {
      const module = (await import(request.modulePath)) as Record<string, () => unknown>;
      const run = module[request.name];
      if (typeof run !== 'function') throw new Error(`${request.modulePath} exports no function ${request.name}`);
      process.once('message', () => {
        void (async () => {
          try {
            const started = performance.now();
            const value = await run();
            process.send!({ value, ms: performance.now() - started });
          } catch (error) {
            process.send!({ error: String((error as Error).stack ?? error) });
          }
        })();
      });
      process.send!({ ready: true });
    } catch (error) {
      process.send!({ error: String((error as Error).stack ?? error) });
    }
  })();
});
