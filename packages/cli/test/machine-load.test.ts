import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { BUSY_CORES, machineLoadNote, watchMachineLoad } from '../src/machine-load';

const linux = fs.existsSync('/proc/stat');

/** Spins `ms` of CPU in this process. */
function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('machine load while a benchmark runs', () => {
  (linux ? it : it.skip)('counts the CPU a process that is not ours uses', () => {
    // Started through a shell that exits at once: the loop is then nobody's child here.
    const pid = Number(
      execFileSync('sh', ['-c', `${process.execPath} -e 'for(;;){}' >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).trim(),
    );
    try {
      spin(300); // the loop is running
      const stop = watchMachineLoad();
      spin(1500);
      const load = stop()!;
      // One core's worth of someone else's spinning (less what the scheduler gave us, more any other work).
      expect(load.otherCores).toBeGreaterThan(0.5);
      expect(load.cores).toBeGreaterThanOrEqual(1);
      expect(machineLoadNote(load)).toMatch(/^note: other processes used \d\.\d of the \d+ cores while this ran/);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('says nothing for an idle machine or where nothing was measured', () => {
    expect(machineLoadNote(null)).toBeNull();
    expect(machineLoadNote({ otherCores: BUSY_CORES / 2, stealCores: 0, cores: 2 })).toBeNull();
    expect(machineLoadNote({ otherCores: 0, stealCores: 0.6, cores: 2 })).toMatch(
      /other processes used 0\.0 of the 2 cores and the hypervisor took 0\.6/,
    );
  });
});
