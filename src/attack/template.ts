import { ConfigError } from '../errors.js';

/** The values a template can name: `{{buyer}}`, `{{request_id}}`, `{{i}}`, `{{quantity}}`. */
export interface TemplateValues {
  /** Buyer id, e.g. `b-17`. */
  buyer: string;
  /** Request id, also sent as Idempotency-Key. */
  request_id: string;
  /** The buyer's index in the run, 0-based. */
  i: number;
  /** Units each request asks for (`--quantity`). */
  quantity: number;
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;
const NAMES = new Set<keyof TemplateValues>(['buyer', 'request_id', 'i', 'quantity']);

/** A template compiled once into literal parts, so filling it per request is a few concatenations. */
export type CompiledTemplate = (values: TemplateValues) => string;

/**
 * Compiles a body or header template. Values are inserted as they are, with
 * no escaping: buyer and request ids are made of letters, digits and dashes,
 * so they are safe inside a JSON string or a header.
 */
export function compileTemplate(template: string, what: string): CompiledTemplate {
  const literals: string[] = [];
  const names: (keyof TemplateValues)[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1] as keyof TemplateValues;
    if (!NAMES.has(name)) {
      throw new ConfigError(`${what}: unknown placeholder {{${match[1]}}}; use {{buyer}}, {{request_id}}, {{i}} or {{quantity}}`);
    }
    literals.push(template.slice(last, match.index));
    names.push(name);
    last = match.index + match[0].length;
  }
  literals.push(template.slice(last));
  if (names.length === 0) return () => template;
  return (values) => {
    let text = literals[0]!;
    for (let k = 0; k < names.length; k++) text += String(values[names[k]!]) + literals[k + 1]!;
    return text;
  };
}
