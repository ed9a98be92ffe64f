import { probeBackends } from '@resnet-ts/core';

/** One row of {@link probeEngines}: an engine, whether it runs here and why, and whether auto picks it. */
export interface EngineRow {
  name: string;
  /** Effective priority (a software WebGPU adapter ranks lower than the plug-in's own). */
  priority: number;
  available: boolean;
  training: boolean;
  /** Why not (or a note such as the adapter). */
  reason?: string;
  install?: string;
  description: string;
  /** The engine `useBackend('auto')` would pick (the highest-priority available one). */
  auto: boolean;
}

/** Every registered engine with its availability, highest effective priority first. */
export async function probeEngines(options: { training?: boolean } = {}): Promise<EngineRow[]> {
  const probed = await probeBackends();
  const autoPick = probed.find((p) => p.availability.available && (!options.training || p.plugin.capabilities.training));
  return probed.map(({ plugin, availability, priority }) => ({
    name: plugin.name,
    priority,
    available: availability.available,
    training: plugin.capabilities.training,
    reason: availability.reason,
    install: availability.install,
    description: plugin.description,
    auto: plugin === autoPick?.plugin,
  }));
}

/** The table `resnet backends` prints. */
export function formatEngines(rows: EngineRow[]): string {
  const head = ['engine', 'prio', 'status', 'details'];
  const body = rows.map((r) => [
    (r.auto ? '* ' : '  ') + r.name,
    String(r.priority),
    r.available ? 'available' : 'unavailable',
    (r.reason ?? '') + (!r.available && r.install ? ` -> ${r.install}` : ''),
  ]);
  const widths = head.map((h, i) => Math.max(h.length + (i === 0 ? 2 : 0), ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const auto = rows.find((r) => r.auto);
  return [
    line(['  ' + head[0], ...head.slice(1)]),
    ...body.map(line),
    '',
    auto ? `auto picks: ${auto.name} (* above)` : 'auto picks: nothing (no engine is available)',
  ].join('\n');
}

/** Probes every engine and formats the table (what `resnet backends` prints). */
export async function describeBackends(): Promise<string> {
  return formatEngines(await probeEngines());
}
