/*
 * test_onnx_mnist.c
 *	  Imports a real PyTorch export (shared/models/mnist_cnn_pytorch.onnx,
 *	  LeNet-5, opset 10) and classifies the 10,000 MNIST test images in
 *	  batches; the reference accuracy measured with PyTorch itself is 9813
 *	  correct, and the test requires exactly that.
 *
 *	    test_onnx_mnist MODEL.onnx IMAGES.idx3.gz LABELS.idx1.gz
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"
#include "test_files.h"

#define EXPECTED_CORRECT 9813
#define BATCH 512

/* Reads a whole gzip file; exits on failure. */
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
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
	while ((n = gzread(f, buf + used, (unsigned) (cap - used))) > 0)
	{
		used += (size_t) n;
		if (used == cap && (buf = realloc(buf, cap *= 2)) == NULL)
			exit(2);
	}
	gzclose(f);
	*len = used;
	return buf;
}

/* Big-endian uint32 of the idx headers. */
static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

int
main(int argc, char **argv)
{
	size_t		model_len,
				images_len,
				labels_len;
	uint8_t    *model_bytes,
			   *images,
			   *labels;
	PiModel    *model;
	PiOnnxInfo	info;
	PiError		err = {0};
	PiExecutor *ex;
	uint32_t	count;
	int			correct = 0;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s MODEL.onnx IMAGES.gz LABELS.gz\n", argv[0]);
		return 2;
	}
	model_bytes = (uint8_t *) test_read_file(argv[1], &model_len);
	if (model_bytes == NULL)
	{
		fprintf(stderr, "cannot read %s\n", argv[1]);
		return 2;
	}
	images = read_gz(argv[2], &images_len);
	labels = read_gz(argv[3], &labels_len);
	if (images_len < 16 || be32(images) != 2051 || be32(images + 8) != 28 || be32(images + 12) != 28 ||
		labels_len < 8 || be32(labels) != 2049 || be32(labels + 4) != be32(images + 4) ||
		images_len != 16 + (size_t) be32(images + 4) * 784 || labels_len != 8 + (size_t) be32(labels + 4))
	{
		fprintf(stderr, "not MNIST idx files\n");
		return 2;
	}
	count = be32(images + 4);
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	if (pi_onnx_load(model_bytes, model_len, NULL, 0, &model, &info, &err) != PI_OK)
	{
		fprintf(stderr, "FAIL: import: %s\n", err.message);
		return 1;
	}
	printf("imported %s: IR %lld, opset %lld, producer %s %s, %d nodes\n", argv[1],
		   (long long) info.ir_version, (long long) info.opset, info.producer_name,
		   info.producer_version, model->norder);
	if (model->ninputs != 1 || model->noutputs != 1 ||
		pi_value_row_elems(&model->values[model->inputs[0]]) != 784 ||
		pi_value_row_elems(&model->values[model->outputs[0]]) != 10)
	{
		fprintf(stderr, "FAIL: expected one input of 784 values and one output of 10\n");
		return 1;
	}
	if ((ex = pi_executor_new(model, BATCH, &err)) == NULL)
	{
		fprintf(stderr, "FAIL: executor: %s\n", err.message);
		return 1;
	}
	for (uint32_t start = 0; start < count; start += BATCH)
	{
		int64_t		batch = (count - start < BATCH) ? count - start : BATCH;
		float	   *in = pi_executor_input(ex, 0);
		const float *out;

		for (int64_t i = 0; i < batch * 784; i++)
			in[i] = images[16 + (size_t) start * 784 + i] / 255.0f;
		if (pi_executor_run(ex, batch, &err) != PI_OK)
		{
			fprintf(stderr, "FAIL: run: %s\n", err.message);
			return 1;
		}
		out = pi_executor_output(ex, 0);
		for (int64_t r = 0; r < batch; r++)
		{
			int			best = 0;

			for (int k = 1; k < 10; k++)
				if (out[r * 10 + k] > out[r * 10 + best])
					best = k;
			correct += (best == labels[8 + start + r]);
		}
	}
	printf("MNIST test set: %d of %u correct (%.2f%%), expected %d\n", correct, count,
		   100.0 * correct / count, EXPECTED_CORRECT);
	pi_executor_free(ex);
	pi_model_free(model);
	free(model_bytes);
	free(images);
	free(labels);
	if (correct != EXPECTED_CORRECT)
	{
		fprintf(stderr, "FAIL: expected exactly %d correct\n", EXPECTED_CORRECT);
		return 1;
	}
	return 0;
}
