/**
 * `segflow send track|identify|page|screen|group|alias|batch`: a few events straight to the Tracking API, with
 * the write key of this shell (SEGMENT_WRITE_KEY[_<SOURCE>]). It is data, not workspace configuration, so no job
 * and no approval; each message is checked first (./messages.ts). A message without a messageId gets one derived
 * from its content, its position and the source name (printed), so re-running the same command is deduplicated
 * by Segment (its dedupe window is about 24 h); pass --message-id to send the same content twice.
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../../client';
import { ConfigError, MissingSecretError, resolveWriteKey, SOURCE_NAME_PATTERN, trackingApiRoot } from '../../config';
import { CALL_TYPES, type CallType, type SegmentMessage } from '../../core/types';
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../../segment/tracking-client';
import { action, EXIT, isJson, printJson } from '../common';
import { examples } from '../examples';
import { out, readStdin } from '../terminal';
import { buildCallFromFlags, parseMessagesFile, prepareMessages, type CallFlags } from './messages';

const CALL_EXAMPLES: Record<CallType, string> = {
  track: 'segflow send track --user-id u1 --event \'Signed Up\' --properties \'{"plan":"pro"}\'',
  identify: 'segflow send identify --user-id u1 --traits \'{"email":"a@example.com"}\'',
  page: 'segflow send page --anonymous-id a1 --name Pricing',
  screen: 'segflow send screen --user-id u1 --name Settings',
  group: 'segflow send group --user-id u1 --group-id org_9',
  alias: 'segflow send alias --user-id u1 --previous-id anon-7',
};

export function registerSendCommands(program: Command): void {
  const send = program
    .command('send')
    .description("Send a few events to the Tracking API, checked with the importer's rules (use `segflow import` for volume)");

  const post = async (messages: SegmentMessage[], sourceName: string, command: Command): Promise<number> => {
    if (!SOURCE_NAME_PATTERN.test(sourceName)) throw new UsageError(`Invalid --source "${sourceName}".`);
    let writeKey: string;
    try {
      writeKey = resolveWriteKey(sourceName, process.env);
    } catch (error) {
      if (error instanceof MissingSecretError)
        throw new UsageError(`${error.variable} is not set in this shell: it holds the write key of source "${sourceName}".`);
      throw error;
    }
    let apiRoot: string;
    try {
      apiRoot = trackingApiRoot(process.env);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    const client = new TrackingClient({ apiRoot, writeKey });
    // The one sender (src/segment/tracking-client.ts). Same messageIds on every attempt: Segment drops the
    // duplicates if an earlier attempt got through.
    const refused: string[] = [];
    try {
      await client.send(
        messages.map((message) => ({ serialized: JSON.stringify(message), messageId: message.messageId })),
        { retries: 3, onRefused: (event, reason) => void refused.push(`${event.messageId}: ${reason}`) },
      );
    } catch (error) {
      if (error instanceof TrackingRetryableError || error instanceof TrackingFatalError) throw new UsageError(`Not sent: ${error.reason}`);
      throw error;
    }
    if (refused.length > 0) throw new UsageError(`Not sent: ${refused.join('; ')}`);
    if (isJson(command)) printJson({ sent: messages.length, messageIds: messages.map((m) => m.messageId) });
    else out(`Sent ${messages.length} message(s) to source "${sourceName}": ${messages.map((m) => m.messageId).join(', ')}`);
    return EXIT.ok;
  };

  for (const type of CALL_TYPES) {
    send
      .command(type)
      .description(`Send one ${type} call`)
      .option('--source <name>', 'source name; its write key comes from SEGMENT_WRITE_KEY[_<NAME>]', 'default')
      .option('--user-id <id>')
      .option('--anonymous-id <id>')
      .option('--event <name>', 'track: event name')
      .option('--name <name>', 'page/screen name')
      .option('--category <category>', 'page category')
      .option('--group-id <id>', 'group: the group')
      .option('--previous-id <id>', 'alias: the old id')
      .option('--properties <json>')
      .option('--traits <json>')
      .option('--context <json>')
      .option('--integrations <json>')
      .option('--timestamp <iso>', 'when it happened (default: now, set by Segment)')
      .option('--message-id <id>', 'dedupe key (default: a new UUID, printed)')
      .option('--data <json>', 'the whole message as JSON; flags override its fields')
      .addHelpText('after', examples(CALL_EXAMPLES[type]))
      .action(
        action(async (opts: CallFlags & { source: string }, command: Command) =>
          post(prepareMessages([buildCallFromFlags(type, opts)], new Date(), opts.source), opts.source, command),
        ),
      );
  }

  send
    .command('batch')
    .description('Send a small set of messages (JSON array or NDJSON, each with its type) in one request')
    .argument('<file>', 'file with the messages, or - for stdin')
    .option('--source <name>', 'source name; its write key comes from SEGMENT_WRITE_KEY[_<NAME>]', 'default')
    .addHelpText('after', examples('segflow send batch messages.ndjson', 'cat messages.ndjson | segflow send batch -'))
    .action(
      action(async (file: string, opts: { source: string }, command: Command) => {
        const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
        return post(prepareMessages(parseMessagesFile(text), new Date(), opts.source), opts.source, command);
      }),
    );
}
