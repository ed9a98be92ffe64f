/**
 * How busy the machine was with other work while a benchmark ran. A benchmark on a machine that
 * something else is using prints plausible numbers that are wrong: with two other processes on these
 * two cores, a ResNet-20 training step at batch 2 read 1129 ms instead of ~50 (each of the step's
 * hundreds of OpenMP barriers waits for a thread the scheduler has given away). `resnet bench`
 * therefore says so next to its table.
 *
 * Linux only (/proc): the CPU time all processes used, less what this process and its children (the
 * PyTorch peer, cold-start processes) used, over the wall time, in cores; and what the hypervisor
 * took (steal). Elsewhere nothing is measured.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux build that matters). */
const TICKS_PER_S = 100;

/** Cores' worth of CPU that others used, above which the times are not an idle machine's. */
export const BUSY_CORES = 0.25;

export interface MachineLoad {
  /** Cores' worth of CPU that other processes used, on average, while the benchmark ran. */
  otherCores: number;
  /** Cores' worth of CPU time the hypervisor took from this VM (steal). */
  stealCores: number;
  cores: number;
}

interface Sample {
  at: number;
  busy: number;
  steal: number;
  own: number;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(path: string): string[] | null {
  try {
    const text = fs.readFileSync(path, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // the process ended meanwhile
  }
}

/** CPU ticks of this process (with the children it has waited for) and of its live children. */
function ownTicks(): number {
  const self = statFields('/proc/self/stat');
  // After the name: state, ppid, ... utime is field 14 of stat, i.e. index 11 here.
  let ticks = self ? [11, 12, 13, 14].reduce((s, i) => s + Number(self[i]), 0) : 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(`/proc/${name}/stat`);
    if (f && Number(f[1]) === process.pid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}

function sample(): Sample | null {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal = 0] = cpu;
    return { at: performance.now(), busy: user + nice + system + irq + softirq, steal, own: ownTicks() };
  } catch {
    return null; // not Linux
  }
}

/** Starts measuring; the function returned ends it (null where /proc is missing or no time passed). */
export function watchMachineLoad(): () => MachineLoad | null {
  const start = sample();
  return () => {
    const end = sample();
    if (!start || !end) return null;
    const ticks = ((end.at - start.at) / 1000) * TICKS_PER_S;
    if (ticks <= 0) return null;
    const other = end.busy - start.busy - (end.own - start.own);
    return { otherCores: Math.max(0, other) / ticks, stealCores: (end.steal - start.steal) / ticks, cores: os.cpus().length };
  };
}

/** A line warning that the times were taken on a busy machine, or null when it was idle enough. */
export function machineLoadNote(load: MachineLoad | null): string | null {
  if (!load || (load.otherCores < BUSY_CORES && load.stealCores < BUSY_CORES)) return null;
  const parts = [`other processes used ${load.otherCores.toFixed(1)} of the ${load.cores} cores`];
  if (load.stealCores >= BUSY_CORES) parts.push(`the hypervisor took ${load.stealCores.toFixed(1)}`);
  return `note: ${parts.join(' and ')} while this ran: the times above are slower, and the ratios less certain, than on an idle machine.`;
}
