/** The pid of the npm/npx that launched this process (through shells or env), or 0. */
export function findLauncher(pid?: number): number;
/** Stop as on SIGTERM when the npm/npx launcher is gone; returns its pid, or 0 when there is none. */
export function watchLauncher(intervalMs?: number): number;
