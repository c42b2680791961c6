// A CPU thread entry (as workers/cpu.ts) in which CPU CRASH_CPU gets stuck,
// interrupts off, after CRASH_AFTER_OPS operations (see inject.ts).
import machineThread, { type ThreadTask } from '../../src/machine/thread.ts';
import { inject } from './inject.ts';

inject('hang');

export default (task: Omit<ThreadTask, 'role'>) => machineThread({ ...task, role: 'cpu' });
