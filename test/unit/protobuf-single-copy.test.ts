/**
 * @temporalio/common's historyFromJSON hands types loaded by @temporalio/proto to protobufjs's JSON reader;
 * with two copies of protobufjs installed, the reader's `instanceof Type` fails ("type must be a Type") and no
 * JSON history can be replayed. package.json depends on protobufjs itself so npm keeps one shared copy.
 */
import { dirname } from 'node:path';
import { expect, it } from 'vitest';

it('the Temporal packages share one protobufjs', () => {
  const resolveFrom = (pkg: string) => require.resolve('protobufjs', { paths: [dirname(require.resolve(`${pkg}/package.json`))] });
  const copies = new Set(['@temporalio/common', '@temporalio/proto', '@temporalio/worker', '@temporalio/client'].map(resolveFrom));
  expect([...copies]).toHaveLength(1);
});

it('a JSON history parses', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { historyFromJSON } = require('@temporalio/common/lib/proto-utils') as typeof import('@temporalio/common/lib/proto-utils');
  expect(historyFromJSON({ events: [] }).events).toEqual([]);
});
