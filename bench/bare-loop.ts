/**
 * The ceiling: a bare undici loop posting the same batches to its own Segment double.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Agent, request } from 'undici';
import { BatchBuffer, type BatchLimits } from '../src/core/batch-builder';
import { splitCsvFields } from '../src/io/chunk-planner';
import { WRITE_KEY, type SendRun } from './common';
import type { BenchFormat } from './generate';
import { startCpuMeter } from './proc-stats';

export async function* fileLines(file: string): AsyncGenerator<string> {
  let partial = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (partial + (chunk as string)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) yield line;
  }
  if (partial.length > 0) yield partial;
}

export function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]!] = value;
}

/**
 * The minimum any sender must do per row: NDJSON lines are JSON.parse'd; CSV lines are split into fields
 * (with segflow's own splitter, the fastest one here; the generated file has no quoted newlines) and mapped
 * onto an object by the generator's header (JSON columns parsed, dotted columns nested).
 */
export async function* bareRows(file: string, format: BenchFormat): AsyncGenerator<Record<string, unknown>> {
  let header: string[] | undefined;
  for await (const line of fileLines(file)) {
    if (format === 'ndjson') {
      yield JSON.parse(line) as Record<string, unknown>;
      continue;
    }
    const split = splitCsvFields(line);
    if (split.error !== undefined) throw new Error(`bare loop: bad CSV line: ${split.error}`);
    if (!header) {
      header = split.values;
      continue;
    }
    const row: Record<string, unknown> = {};
    header.forEach((column, i) => {
      const cell = split.values[i];
      if (!cell) return;
      if (column === 'properties' || column === 'traits') row[column] = JSON.parse(cell);
      else if (column.includes('.')) setPath(row, column.split('.'), cell);
      else row[column] = cell;
    });
    yield row;
  }
}

/**
 * Reads the file, builds batches with segflow's own BatchBuffer and limits, and keeps `concurrency` requests in
 * flight (segflow runs `concurrency` chunks, each with one request at a time). No Temporal, no validation,
 * no retries, no reject report. A missing messageId gets a random UUID, as every Segment library does, which
 * also keeps each event the same size as segflow's (a 36-character UUID) and so the batches the same.
 */
export async function runBareLoop(
  file: string,
  format: BenchFormat,
  url: string,
  doublePid: number,
  concurrency: number,
  limits: BatchLimits,
): Promise<SendRun> {
  const agent = new Agent({ connections: 32, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });
  const authorization = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
  const batchUrl = `${url}/v1/batch`;
  const inFlight = new Set<Promise<void>>();
  // One buffer fills while up to `concurrency` others are being posted (a buffer is reused once its post is answered).
  const free = Array.from({ length: concurrency + 1 }, () => new BatchBuffer(limits));
  let filling = free.pop()!;
  let events = 0;
  let batches = 0;

  const post = async (body: string | Uint8Array, count: number): Promise<void> => {
    const response = await request(batchUrl, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', authorization, 'user-agent': 'segflow-bench/bare' },
      body,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`bare loop: /v1/batch answered ${response.statusCode}: ${text.slice(0, 200)}`);
    events += count;
    batches += 1;
  };
  const flush = async (): Promise<void> => {
    const full = filling;
    if (full.size === 0) return;
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    filling = free.pop()!;
    const sending = post(full.batch().renderBody(new Date().toISOString()), full.size);
    const tracked = sending.finally(() => {
      inFlight.delete(tracked);
      full.clear();
      free.push(full);
    });
    inFlight.add(tracked);
  };

  const stopMeter = startCpuMeter({ double: doublePid });
  const started = performance.now();
  for await (const row of bareRows(file, format)) {
    if (typeof row.messageId !== 'string') row.messageId = randomUUID();
    const serialized = JSON.stringify(row);
    if (!filling.tryAdd(serialized, 0, '')) {
      await flush();
      if (!filling.tryAdd(serialized, 0, '')) throw new Error('bare loop: an event does not fit an empty batch');
    }
  }
  await flush();
  await Promise.all(inFlight);
  const ms = performance.now() - started;
  const cpu = stopMeter();
  await agent.close();
  return { events, batches, ms, senderCpu: cpu.self, doubleCpu: cpu.used.double ?? NaN, othersCpu: cpu.others };
}
