// Shared by core's tests: the cpu reference backend and the paper's blocks/shortcuts.
import '@resnet-ts/backend-node';
import '@resnet-ts/blocks';
import '@resnet-ts/shortcuts';
export { useBackend } from '@resnet-ts/core';
