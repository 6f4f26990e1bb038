/*
 * test_mnist.c
 *	  Reads the gzip'd MNIST idx files and checks their headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

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
