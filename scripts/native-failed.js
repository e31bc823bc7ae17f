// Run by `npm install`/`npm ci` when node-gyp could not build native/kernels.cc (no compiler,
// no Node headers): the install still succeeds and training uses the WASM kernels instead.
process.stderr.write(
  'evolve: the native training kernels (native/kernels.cc) were not built; evolve will train on ' +
    "its WASM kernels instead (slower). Install python3, make and a C++ compiler, then run 'npm rebuild'.\n",
);
