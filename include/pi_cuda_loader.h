/*
 * pi_cuda_loader.h
 *	  What the process that opens pg_infer_cuda.so (include/pi_cuda.h) does
 *	  before and after dlopen: find and load the CUDA libraries the library
 *	  links, wherever this machine keeps them, and check that the library
 *	  was built with this build's structs.
 *
 * Plain C over libdl (src/cuda/loader_libs.c, src/cuda/loader_layout.c),
 * linked into the loading program, not into pg_infer_cuda.so.
 */
#ifndef PI_CUDA_LOADER_H
#define PI_CUDA_LOADER_H

#include <stdint.h>

#include "pi_ir.h"

/*
 * The CUDA libraries pg_infer_cuda.so needs (its own and its cuBLAS's
 * dependencies), in an order where each one's dependencies come before it.
 * test/gpu/test_load checks that these are what dlopen of the library
 * brings in; test/gpu/find-cuda-libs.sh reads this line.
 */
#define PI_CUDA_LIBRARIES "libcudart.so.13 libcublasLt.so.13 libcublas.so.13"

/* Directories, colon-separated, searched first for them. */
#define PI_CUDA_LIBRARY_PATH_ENV "PG_INFER_CUDA_LIBRARY_PATH"

#define PI_CUDA_SEARCH_MAX 64	/* directories of a search */
#define PI_CUDA_DIR_MAX 512		/* bytes of a directory's path */

/* Directories to search, in order, without duplicates. */
typedef struct PiCudaSearch
{
	int			count;
	char		dirs[PI_CUDA_SEARCH_MAX][PI_CUDA_DIR_MAX];
} PiCudaSearch;

/* The directories of a colon-separated list (NULL or "" for none). */
void		pi_cuda_loader_path_dirs(const char *path, PiCudaSearch *search);

/*
 * The places CUDA 13's libraries are known to be kept that exist under
 * root ("" for the machine itself): $CUDA_HOME/lib64, the toolkit's
 * directories, then the lib directories of NVIDIA's Python wheels
 * (nvidia/cu13/lib, nvidia/cublas/lib, nvidia/cuda_runtime/lib) in the
 * usual site-packages of system Pythons, conda, pyenv, venvs in /opt and
 * users' ~/.local.  test/gpu/find-cuda-libs.sh searches the same places.
 */
void		pi_cuda_loader_known_dirs(const char *root, PiCudaSearch *search);

/* The first directory of search holding the file name, as a path into file; false when none. */
bool		pi_cuda_loader_find(const PiCudaSearch *search, const char *name, char *file, size_t len);

/*
 * Loads each of PI_CUDA_LIBRARIES (RTLD_GLOBAL, never unloaded), so that a
 * dlopen of pg_infer_cuda.so finds them loaded: from the first directory of
 * path (PG_INFER_CUDA_LIBRARY_PATH's value, may be NULL) that holds it,
 * else where the dynamic loader finds it by name (LD_LIBRARY_PATH,
 * ldconfig's cache, the system directories), else from the first known
 * directory (pi_cuda_loader_known_dirs).  where gets one "NAME from FILE"
 * per library, for the log; PI_ERR_DEVICE, saying what was searched, when
 * one is not found or does not load.
 */
PiStatus	pi_cuda_loader_load_libs(const char *path, char *where, size_t len, PiError *err);

/*
 * Compares the PI_CUDA_LAYOUT values that library reports through its
 * pi_cuda_abi_layout (passed as layout_fn) with this build's; PI_ERR_DEVICE
 * naming the first one that differs.
 */
PiStatus	pi_cuda_loader_check_layout(int (*layout_fn) (int64_t *values, int max),
										const char *library, PiError *err);

#endif							/* PI_CUDA_LOADER_H */
