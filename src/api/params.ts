// params.ts — checks a call's JSON body against the method's parameter list.
// The body is a JSON object of named parameters. Each parameter may also be given in the
// JetStream dict form: an object holding the value under the parameter's own name, e.g.
// {"clientPublicKey": {"clientPublicKey": "..."}} or {"requestId": {"requestId": 7}}.
// Unknown names are refused (a typo must not silently become a default).
import { ApiCallError, ApiErrorCodes } from './api-errors.js';
import type { MethodSpec, ParamSpec, ParamType } from './catalog.js';

const TYPE_WORDS: Record<ParamType, string> = {
  string: 'a string',
  boolean: 'a boolean (true or false)',
  integer: 'an integer',
};

/** Short description of a JSON value for error messages: `string "abc"`, `number 1.5`, `null`. */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  return `${typeof value} ${String(value)}`;
}

/** Expected type of a parameter in words, with its range: 'an integer 1-300000'. */
export function expectedTypeText(param: ParamSpec): string {
  let text = TYPE_WORDS[param.type];
  if (param.type === 'integer') {
    if (param.minimum !== undefined && param.maximum !== undefined) text += ` ${param.minimum}-${param.maximum}`;
    else if (param.minimum !== undefined) text += ` >= ${param.minimum}`;
  }
  return text;
}

function badParameter(method: MethodSpec, param: string, message: string): ApiCallError {
  return new ApiCallError(ApiErrorCodes.BAD_PARAMETER, `${method.name}: ${message}`, { parameter: param });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns the method's parameters from `body` (already JSON-parsed; undefined for an empty
 * body), unwrapped from the dict form and type-checked. Optional parameters that are absent
 * or null are left out. Throws ApiCallError BAD_REQUEST if the body is not an object, and
 * BAD_PARAMETER naming the parameter and the expected type for anything else.
 */
export function validateParams(method: MethodSpec, body: unknown): Record<string, unknown> {
  if (body === undefined) body = {};
  if (!isPlainObject(body)) {
    throw new ApiCallError(
      ApiErrorCodes.BAD_REQUEST,
      `${method.name}: the request body must be a JSON object of named parameters, got ${describeJsonValue(body)}`,
    );
  }
  const known = new Set(method.params.map((p) => p.name));
  for (const key of Object.keys(body)) {
    if (!known.has(key)) {
      const expected = method.params.length === 0 ? 'it takes no parameters' : `expected ${method.params.map((p) => p.name).join(', ')}`;
      throw badParameter(method, key, `unknown parameter '${key}' (${expected})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const param of method.params) {
    let value = body[param.name];
    if (isPlainObject(value) && Object.hasOwn(value, param.name)) value = value[param.name];
    if (value === undefined || value === null) {
      if (param.required) {
        throw badParameter(method, param.name, `missing parameter '${param.name}' (${expectedTypeText(param)})`);
      }
      continue;
    }
    out[param.name] = checkType(method, param, value);
  }
  return out;
}

function checkType(method: MethodSpec, param: ParamSpec, value: unknown): unknown {
  const fail = (): never => {
    throw badParameter(method, param.name, `parameter '${param.name}' must be ${expectedTypeText(param)}, got ${describeJsonValue(value)}`);
  };
  switch (param.type) {
    case 'string':
      if (typeof value !== 'string') fail();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') fail();
      return value;
    case 'integer': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail();
      const n = value as number;
      if ((param.minimum !== undefined && n < param.minimum) || (param.maximum !== undefined && n > param.maximum)) {
        fail();
      }
      return n;
    }
  }
}
