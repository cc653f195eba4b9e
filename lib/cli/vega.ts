// Vega-Lite specs to SVG, rendered headless by Vega's SVG renderer (no browser,
// no canvas), for the CLI's training curves and bench/suite's charts. vega and
// vega-lite are optional dependencies (23 MB of node_modules that training and
// predicting do not need): where npm left them out (--omit=optional), plots are
// skipped with a note instead of failing.

// ES modules with top-level await: load them with a real dynamic import
// (TypeScript would turn `import()` into require() under CommonJS).
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaLite {
  compile(spec: unknown): { spec: unknown };
}
interface Vega {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}

/** Renders a Vega-Lite spec to an SVG string. */
export type SvgRenderer = (vegaLiteSpec: unknown) => Promise<string>;

let loading: Promise<SvgRenderer | string> | undefined;

/**
 * The renderer, or one line saying why there is none when vega or vega-lite is
 * not installed. Any other failure to load them (a broken install) throws.
 */
export function loadSvgRenderer(): Promise<SvgRenderer | string> {
  loading ??= (async () => {
    let vega: Vega;
    let vegaLite: VegaLite;
    try {
      [vega, vegaLite] = (await Promise.all([importEsm('vega'), importEsm('vega-lite')])) as [Vega, VegaLite];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      const why = String((err as Error).message).split('\n')[0];
      return `vega and vega-lite, optional dependencies of addernet, are not installed (${why}); \`npm install vega vega-lite\` adds them`;
    }
    return async (spec: unknown) => {
      const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
      try {
        return await view.toSVG();
      } finally {
        view.finalize();
      }
    };
  })();
  return loading;
}
