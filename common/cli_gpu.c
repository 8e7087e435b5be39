/* cli_gpu.c -- cli.h's cli_open_gpu, apart from cli.c so that programs
 * without GPU code never link the CUDA runtime. */
#include "cli.h"
#include "gpu.h"

#include <stdlib.h>

Gpu *cli_open_gpu(CliCommon *common) {
    if (common->device != DEV_CUDA) return NULL;
    Gpu *g = gpu_open(0);
    GpuInfo info = gpu_info(g);
    char *line = xasprintf("cuda (%s)", info.name);
    provenance_set_device(&common->prov, line);
    free(line);
    return g;
}
