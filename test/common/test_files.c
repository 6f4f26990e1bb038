/*
 * test_files.c
 *	  Files the standalone test programs read: whole files, and the PyTorch
 *	  fixture cases listed in test/fixtures/MANIFEST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_files.h"

/* Reads a whole file, NUL-terminated (*len excludes the NUL); NULL if it cannot. */
char *
test_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
	{
		fclose(f);
		return NULL;
	}
	rewind(f);
	buf = malloc((size_t) n + 1);
	if (buf != NULL && fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf == NULL)
		return NULL;
	buf[n] = '\0';
	*len = (size_t) n;
	return buf;
}

/* Input tensor i of a fixture's io.safetensors: "input", or "input.<name>"; NULL if absent. */
const PiTensor *
test_fixture_input(const PiTensorSet *io, const PiModel *m, int i)
{
	char		name[PI_MAX_NAME + 8];
	int			t = -1;

	if (m->ninputs == 1)
		t = pi_tensor_set_find(io, "input");
	if (t < 0)
	{
		snprintf(name, sizeof(name), "input.%s", m->values[m->inputs[i]].name);
		t = pi_tensor_set_find(io, name);
	}
	return t >= 0 ? &io->tensors[t] : NULL;
}

/* Loads fixture case NAME of DIR (model and io tensors); false with err set on failure. */
bool
test_fixture_load(const char *dir, const char *name, PiModel **model, PiTensorSet *io,
				  PiError *err)
{
	static const char *const files[3] = {"model.json", "model.safetensors", "io.safetensors"};
	char	   *bytes[3] = {NULL, NULL, NULL};
	size_t		len[3] = {0, 0, 0};
	bool		ok = true;

	*model = NULL;
	for (int i = 0; i < 3; i++)
	{
		char		path[1024];

		snprintf(path, sizeof(path), "%s/%s/%s", dir, name, files[i]);
		if ((bytes[i] = test_read_file(path, &len[i])) == NULL && ok)
		{
			pi_fail(err, PI_ERR_UNDEFINED, "fixture file %s is missing", path);
			ok = false;
		}
	}
	if (ok && (pi_model_load(bytes[0], len[0], (uint8_t *) bytes[1], len[1], model, err) != PI_OK ||
			   pi_safetensors_parse((uint8_t *) bytes[2], len[2], io, err) != PI_OK))
		ok = false;
	for (int i = 0; i < 3; i++)
		free(bytes[i]);
	return ok;
}

/* Calls run(dir, name) for each case named in DIR/MANIFEST; the count, or -1. */
int
test_fixture_each(const char *dir, void (*run) (const char *dir, const char *name))
{
	char		path[1024];
	char		line[512];
	FILE	   *f;
	int			cases = 0;

	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		run(dir, line);
		cases++;
	}
	fclose(f);
	return cases;
}
