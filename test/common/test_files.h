/*
 * test_files.h
 *	  What the standalone test programs (engine, GPU, ONNX) read from disk:
 *	  whole files, and the PyTorch fixture cases of test/fixtures.
 */
#ifndef TEST_FILES_H
#define TEST_FILES_H

#include <stddef.h>

#include "pi_format.h"

/* Reads a whole file, NUL-terminated (*len excludes the NUL); NULL if it cannot. */
char	   *test_read_file(const char *path, size_t *len);

/* Input tensor i of a fixture's io.safetensors: "input", or "input.<name>"; NULL if absent. */
const PiTensor *test_fixture_input(const PiTensorSet *io, const PiModel *m, int i);

/*
 * Loads fixture case NAME of DIR: the model of model.json and
 * model.safetensors, and the tensors of io.safetensors; false, with err
 * saying why, when a file is missing or does not load.
 */
bool		test_fixture_load(const char *dir, const char *name, PiModel **model,
							  PiTensorSet *io, PiError *err);

/*
 * Calls run(dir, name) for each case named in DIR/MANIFEST (blank lines and
 * "#" comments skipped); returns the number of cases, or -1 when the
 * manifest cannot be read.
 */
int			test_fixture_each(const char *dir, void (*run) (const char *dir, const char *name));

#endif							/* TEST_FILES_H */
