import { listBackends, probeBackends, useBackend, BackendError } from '@resnet-ts/core';
import { webPlugins, configureBackendWeb } from '@resnet-ts/backend-web';

test('registers webgpu, webgl, wasm and cpu in priority order', () => {
  expect(webPlugins.map((p) => p.name)).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
  expect(listBackends().map((p) => p.name)).toEqual(expect.arrayContaining(['webgpu', 'webgl', 'wasm', 'cpu']));
});

test('outside a browser, webgpu and webgl say why they cannot run', async () => {
  const probed = await probeBackends();
  const webgl = probed.find((p) => p.plugin.name === 'webgl')!;
  expect(webgl.availability.available).toBe(false);
  expect(webgl.availability.reason).toMatch(/canvas|WebGL/);
  const webgpu = probed.find((p) => p.plugin.name === 'webgpu')!;
  expect(webgpu.availability.available).toBe(false);
  await expect(useBackend('webgl')).rejects.toThrow(BackendError);
});

test('wasm reports where its .wasm files come from', async () => {
  configureBackendWeb({ wasmPaths: '/static/tfjs-wasm/' });
  const wasm = (await probeBackends()).find((p) => p.plugin.name === 'wasm')!;
  expect(wasm.availability.reason).toContain('/static/tfjs-wasm/');
});
