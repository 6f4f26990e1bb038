/*
 * test_mnist.c
 *	  Reads the gzip'd MNIST idx files and checks their headers, and counts
 *	  a model's correct classifications of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "pi_engine.h"
#include "test_mnist.h"

/* Reads a whole gzip file (a plain file passes through); NULL if it cannot. */
static uint8_t *
read_gz(const char *path, size_t *len)
{
	gzFile		f = gzopen(path, "rb");
	size_t		cap = 1 << 20,
				used = 0;
	uint8_t    *buf = malloc(cap);
	int			n;

	if (f == NULL || buf == NULL)
	{
		if (f != NULL)
			gzclose(f);
		free(buf);
		return NULL;
	}
	while ((n = gzread(f, buf + used, (unsigned) (cap - used))) > 0)
	{
		used += (size_t) n;
		if (used == cap)
		{
			uint8_t    *bigger = realloc(buf, cap * 2);

			if (bigger == NULL)
			{
				n = -1;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	gzclose(f);
	if (n < 0)
	{
		free(buf);
		return NULL;
	}
	*len = used;
	return buf;
}

/* Big-endian uint32 of the idx headers. */
static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

/* Reads and checks the idx files; false, with why filled in, when they are not MNIST. */
bool
test_mnist_load(const char *images_path, const char *labels_path, TestMnist *out,
				char *why, size_t why_len)
{
	size_t		images_len = 0,
				labels_len = 0;
	uint8_t    *images = read_gz(images_path, &images_len);
	uint8_t    *labels = read_gz(labels_path, &labels_len);

	out->image_file = images;
	out->label_file = labels;
	if (images == NULL || labels == NULL)
	{
		snprintf(why, why_len, "cannot read %s", images == NULL ? images_path : labels_path);
		test_mnist_free(out);
		return false;
	}
	if (images_len < 16 || be32(images) != 2051 || be32(images + 8) != 28 || be32(images + 12) != 28 ||
		labels_len < 8 || be32(labels) != 2049 || be32(labels + 4) != be32(images + 4) ||
		images_len != 16 + (size_t) be32(images + 4) * 784 || labels_len != 8 + (size_t) be32(labels + 4))
	{
		snprintf(why, why_len, "%s and %s are not MNIST idx files of 28x28 images and their labels",
				 images_path, labels_path);
		test_mnist_free(out);
		return false;
	}
	out->images = images + 16;
	out->labels = labels + 8;
	out->count = be32(images + 4);
	return true;
}

/* Frees what test_mnist_load read. */
void
test_mnist_free(TestMnist *mnist)
{
	free(mnist->image_file);
	free(mnist->label_file);
	mnist->image_file = mnist->label_file = NULL;
	mnist->images = mnist->labels = NULL;
	mnist->count = 0;
}

/*
 * Classifies the test images (pixels 0..255 as they are: the model's options
 * scale them) in batches of batch rows; the number correct, -1 if the model
 * cannot run.
 */
int
test_mnist_correct(const PiModel *m, const TestMnist *mnist, int64_t batch)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, batch, &err);
	int			correct = 0;

	if (ex == NULL)
		return -1;
	for (uint32_t start = 0; start < mnist->count; start += batch)
	{
		int64_t		rows = mnist->count - start < batch ? mnist->count - start : batch;
		float	   *in = pi_executor_input(ex, 0);
		const float *out;

		for (int64_t i = 0; i < rows * 784; i++)
			in[i] = mnist->images[(size_t) start * 784 + i];
		if (pi_executor_run(ex, rows, &err) != PI_OK)
		{
			pi_executor_free(ex);
			return -1;
		}
		out = pi_executor_output(ex, 0);
		for (int64_t r = 0; r < rows; r++)
		{
			int			best = 0;

			for (int k = 1; k < 10; k++)
				if (out[r * 10 + k] > out[r * 10 + best])
					best = k;
			correct += best == mnist->labels[start + r];
		}
	}
	pi_executor_free(ex);
	return correct;
}
