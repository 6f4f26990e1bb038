/*
 * loader_libs.c
 *	  Finds and loads the CUDA libraries pg_infer_cuda.so links before it is
 *	  opened (include/pi_cuda_loader.h): its run path names only
 *	  $(CUDA_HOME)/lib64 of the build machine, and a GPU machine may keep
 *	  cuBLAS elsewhere, for example only in NVIDIA's Python wheels.  Part of
 *	  the program that loads the library, not of the library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pi_cuda_loader.h"

/*
 * Where CUDA's libraries are kept, as glob patterns under the root: the
 * toolkit, then the site-packages of Pythons (followed by each of
 * wheel_dirs).  test/gpu/find-cuda-libs.sh has the same lists.
 */
static const char *const toolkit_dirs[] = {
	"/usr/local/cuda/lib64", "/usr/local/cuda/targets/*/lib", "/usr/local/cuda-*/lib64",
	"/usr/local/cuda-*/targets/*/lib", "/opt/cuda/lib64"
};
static const char *const site_dirs[] = {
	"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
	"/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
	"/opt/conda/lib/python3*/site-packages", "/opt/conda/envs/*/lib/python3*/site-packages",
	"/opt/*/lib/python3*/site-packages", "/root/.local/lib/python3*/site-packages",
	"/root/.pyenv/versions/*/lib/python3*/site-packages", "/home/*/.local/lib/python3*/site-packages"
};
static const char *const wheel_dirs[] = {
	"nvidia/cu13/lib", "nvidia/cublas/lib", "nvidia/cuda_runtime/lib"
};

/* Appends dir to search unless it is empty, there already, or search is full. */
static void
add_dir(PiCudaSearch *search, const char *dir, size_t len)
{
	if (len == 0 || len >= PI_CUDA_DIR_MAX || search->count == PI_CUDA_SEARCH_MAX)
		return;
	for (int i = 0; i < search->count; i++)
		if (strlen(search->dirs[i]) == len && strncmp(search->dirs[i], dir, len) == 0)
			return;
	memcpy(search->dirs[search->count], dir, len);
	search->dirs[search->count][len] = '\0';
	search->count++;
}

/* Appends the existing directories that root + pattern (+ "/" + sub) matches. */
static void
add_glob(PiCudaSearch *search, const char *root, const char *pattern, const char *sub)
{
	char		full[PI_CUDA_DIR_MAX];
	glob_t		found;

	if (snprintf(full, sizeof(full), "%s%s%s%s", root, pattern, sub ? "/" : "", sub ? sub : "") >= (int) sizeof(full) ||
		glob(full, GLOB_ONLYDIR, NULL, &found) != 0)
		return;
	for (size_t i = 0; i < found.gl_pathc; i++)
		add_dir(search, found.gl_pathv[i], strlen(found.gl_pathv[i]));
	globfree(&found);
}

/* The directories of a colon-separated list (NULL or "" for none). */
void
pi_cuda_loader_path_dirs(const char *path, PiCudaSearch *search)
{
	search->count = 0;
	while (path != NULL && *path != '\0')
	{
		const char *colon = strchr(path, ':');
		size_t		len = colon != NULL ? (size_t) (colon - path) : strlen(path);

		add_dir(search, path, len);
		path = colon != NULL ? colon + 1 : NULL;
	}
}

/*
 * The places CUDA 13's libraries are known to be kept that exist under
 * root ("" for the machine itself).
 */
void
pi_cuda_loader_known_dirs(const char *root, PiCudaSearch *search)
{
	const char *cuda_home = getenv("CUDA_HOME");

	search->count = 0;
	if (cuda_home != NULL && cuda_home[0] != '\0')
		add_glob(search, "", cuda_home, "lib64");
	for (size_t i = 0; i < sizeof(toolkit_dirs) / sizeof(toolkit_dirs[0]); i++)
		add_glob(search, root, toolkit_dirs[i], NULL);
	for (size_t i = 0; i < sizeof(site_dirs) / sizeof(site_dirs[0]); i++)
		for (size_t j = 0; j < sizeof(wheel_dirs) / sizeof(wheel_dirs[0]); j++)
			add_glob(search, root, site_dirs[i], wheel_dirs[j]);
}

/* The first directory of search holding the file name, as a path into file; false when none. */
bool
pi_cuda_loader_find(const PiCudaSearch *search, const char *name, char *file, size_t len)
{
	for (int i = 0; i < search->count; i++)
		if (snprintf(file, len, "%s/%s", search->dirs[i], name) < (int) len && access(file, R_OK) == 0)
			return true;
	return false;
}

/* Loads name from where the dynamic loader finds it; NULL when it does not. */
static void *
load_by_name(const char *name, char *file, size_t len)
{
	void	   *handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
	struct link_map *map = NULL;

	if (handle == NULL)
		return NULL;
	if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != NULL && map->l_name[0] != '\0')
		snprintf(file, len, "%s", map->l_name);
	else
		snprintf(file, len, "%s", name);
	return handle;
}

/*
 * Loads each of PI_CUDA_LIBRARIES: from path's directories, else where the
 * dynamic loader finds it, else from the known directories; where gets
 * "NAME from FILE" for each.  Called once per process (the searches are
 * static: 32 KiB each).
 */
PiStatus
pi_cuda_loader_load_libs(const char *path, char *where, size_t len, PiError *err)
{
	static PiCudaSearch given;
	static PiCudaSearch known;
	char		names[] = PI_CUDA_LIBRARIES;
	char	   *save = NULL;
	size_t		used = 0;

	pi_cuda_loader_path_dirs(path, &given);
	pi_cuda_loader_known_dirs("", &known);
	where[0] = '\0';
	for (char *name = strtok_r(names, " ", &save); name != NULL; name = strtok_r(NULL, " ", &save))
	{
		char		file[PI_CUDA_DIR_MAX + 64];
		void	   *handle;

		if (pi_cuda_loader_find(&given, name, file, sizeof(file)))
			handle = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
		else if ((handle = load_by_name(name, file, sizeof(file))) == NULL)
		{
			if (!pi_cuda_loader_find(&known, name, file, sizeof(file)))
				return pi_fail(err, PI_ERR_DEVICE, "%s not found: not in %s (\"%s\"), not where the dynamic loader looks (LD_LIBRARY_PATH, ldconfig's cache, the system directories), not in the %d CUDA toolkit and Python wheel directories found on this machine; set %s to its directory",
							   name, PI_CUDA_LIBRARY_PATH_ENV, path != NULL ? path : "",
							   known.count, PI_CUDA_LIBRARY_PATH_ENV);
			handle = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
		}
		if (handle == NULL)
			return pi_fail(err, PI_ERR_DEVICE, "could not load %s: %s", file, dlerror());
		if (used < len)
			used += snprintf(where + used, len - used, "%s%s from %s", used > 0 ? ", " : "", name, file);
	}
	return PI_OK;
}
