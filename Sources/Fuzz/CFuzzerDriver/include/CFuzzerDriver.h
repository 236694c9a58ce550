// libFuzzer's driver entry point (compiler-rt, linked by `-sanitize=fuzzer`). Declared here
// because SwiftPM renames an executable's `main`, so the fuzz targets keep their own `@main`
// and hand control to libFuzzer themselves. Imported only by the FuzzSupport module.
#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
