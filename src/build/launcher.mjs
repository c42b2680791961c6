// A signal to the launcher stops the run as a signal to node does.
//
// `npm start -- ...`, `npm run bench` and `npx hvaemu ...` put npm (and a
// shell, unless the script execs) between whoever signals and node. Killing
// the launcher used to leave the emulator running with parent 1 to its end:
// under a supervisor that signals only the process it started (systemd's
// KillMode=process, a CI runner) an 8 h soak would go on burning the CPUs.
//
// Two halves:
// - the scripts `exec` node, so node is npm's own child, and npm's signal
//   forwarding reaches it;
// - watchLauncher(): if an ancestor within a few levels is npm or npx, poll
//   that it is alive; when it is gone (killed with -9, or it exited without
//   forwarding), signal ourselves SIGTERM once, so the command stops as it
//   does on SIGTERM (INTERRUPTED, exit 143, its files written). A signal that
//   already came (forwarded by npm) is not doubled: a second signal means
//   "exit at once" to the commands.
//
// Plain JavaScript: bin/hvaemu.mjs runs it before the build is loaded.
import { readFileSync } from 'node:fs';

/** `{ ppid, args }` of a process from /proc, or null (not Linux, gone). */
function proc(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name is in parentheses and may hold spaces: ppid follows the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { ppid, args };
  } catch {
    return null;
  }
}

// npm sets its process title ("npm start ...", "npm exec hvaemu ..."): the
// cmdline is then one string; otherwise node's argv holds npm-cli.js/npx-cli.js.
const isLauncher = (args) =>
  /^(npm|npx)( |$)/.test(args[0] ?? '') || args.some((a) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(a));
const isShell = (args) => /(^|\/)(sh|dash|bash|env)$/.test(args[0] ?? '');

/** The pid of the npm/npx that launched us (through shells or env), or 0. */
export function findLauncher(pid = process.ppid) {
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    const p = proc(pid);
    if (!p) return 0;
    if (isLauncher(p.args)) return pid;
    if (!isShell(p.args)) return 0;
    pid = p.ppid;
  }
  return 0;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return proc(pid) !== null; // a zombie answers kill(0) but has no cmdline
  } catch {
    return false;
  }
}

const SIGNO = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/**
 * Watch the launcher (if any) every `intervalMs`. Returns the launcher's pid
 * (0: none, nothing watched). HVAEMU_WATCH_LAUNCHER=0 turns it off.
 */
export function watchLauncher(intervalMs = 500) {
  if (process.env.HVAEMU_WATCH_LAUNCHER === '0') return 0;
  const launcher = findLauncher();
  if (!launcher) return 0;
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, function seen() {
      signalled = true;
      // Alone (the command installed no handler of its own): behave as
      // node's default does.
      if (process.listenerCount(sig) === 1) process.exit(128 + SIGNO[sig]);
    });
  }
  const timer = setInterval(() => {
    if (alive(launcher)) return;
    clearInterval(timer);
    if (signalled) return;
    process.stderr.write(
      `hvaemu: the launcher (pid ${launcher}) is gone: stopping as on SIGTERM\n`,
    );
    process.kill(process.pid, 'SIGTERM');
  }, intervalMs);
  timer.unref();
  return launcher;
}
