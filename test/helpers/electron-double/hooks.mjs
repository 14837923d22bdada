// ES module resolve hook (registered by register.mjs): `electron` is the double.
let double;
export async function initialize(data) {
  double = data.double;
}
export async function resolve(specifier, context, next) {
  if (specifier === 'electron') return { url: double, format: 'commonjs', shortCircuit: true };
  return next(specifier, context);
}
