/**
 * Debian's Chromium and the flags that give it a WebGPU adapter through SwiftShader, exactly as
 * ../shared/ENVIRONMENT.md records them. Shared by every test or script that drives a real browser
 * (backend-web's conformance test, the web example's e2e test and screenshot script).
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

module.exports = { CHROMIUM, CHROMIUM_FLAGS };
