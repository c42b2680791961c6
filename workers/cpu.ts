// Entry of a CPU thread, loaded by piscina through tsx's CommonJS hook.
// Thin on purpose: the thread's life is in src/machine/thread.ts.
import machineThread, { type ThreadTask } from '../src/machine/thread.ts';

export default (task: Omit<ThreadTask, 'role'>) => machineThread({ ...task, role: 'cpu' });
