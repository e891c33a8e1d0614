/**
 * Child process of the benchmark (started by `measure.ts`): measures the
 * configurations given as JSON in argv[2] and reports over IPC.
 */
import { runWorker, type Config } from './measure.js';

const configs = JSON.parse(process.argv[2] ?? '[]') as Config[];
const send = process.send?.bind(process);
if (send === undefined) {
  console.error('worker.ts is started by the benchmark (pnpm bench), not directly');
  process.exit(2);
}
// The benchmark was stopped: do not go on measuring for nobody.
const stopped = () => process.exit(0);
process.on('disconnect', stopped);
await runWorker(configs, (message) => send(message));
process.off('disconnect', stopped);
process.disconnect();
