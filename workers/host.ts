// Entry of the host (hypervisor) thread, loaded by piscina through tsx's CommonJS hook.
import machineThread, { type ThreadTask } from '../src/machine/thread.ts';

export default (task: Omit<ThreadTask, 'role'>) => machineThread({ ...task, role: 'host' });
