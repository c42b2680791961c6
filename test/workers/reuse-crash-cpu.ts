// A CPU thread entry (as workers/cpu.ts) in which CPU CRASH_CPU throws after
// REUSE_FAULT_OPS operations of the REUSE_FAULT_MACHINE-th machine its thread is set up for
// (a controlled run's schedule on reused threads; see inject.ts).
import machineThread, { type ThreadTask } from '../../src/machine/thread.ts';
import { REUSE_FAULT_MACHINE, REUSE_FAULT_OPS } from '../helpers/crash.ts';
import { inject } from './inject.ts';

inject('throw', REUSE_FAULT_OPS, REUSE_FAULT_MACHINE);

export default (task: Omit<ThreadTask, 'role'>) => machineThread({ ...task, role: 'cpu' });
