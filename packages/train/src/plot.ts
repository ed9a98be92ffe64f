/** The trainer's training-curves SVG comes from the one plotting module, @resnet-ts/plot. */
export { curvesSvg, type CurvePoint } from '@resnet-ts/plot';
