/**
 * The failure converter used when the payload codec is on (src/temporal-connection.ts): failure messages and stack
 * traces move into an encoded attributes payload, which the codec encrypts, so a failure is as unreadable as any
 * other payload without the key. It lives with the workflows because the worker bundles it into the sandbox too:
 * a workflow that fails with an activity's failure as its cause serializes that failure again there.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
