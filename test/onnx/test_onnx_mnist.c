/*
 * test_onnx_mnist.c
 *	  Imports a real PyTorch export (shared/models/mnist_cnn_pytorch.onnx,
 *	  LeNet-5, opset 10) and classifies the 10,000 MNIST test images in
 *	  batches; the reference accuracy measured with PyTorch itself is 9813
 *	  correct, and the test requires exactly that.  Given EXPECTED, the
 *	  test requires that count instead (for the quantized versions of the
 *	  model: ONNX Runtime's, which test/onnx/make_quant_models.py prints,
 *	  where the engine computes what ONNX Runtime does), with the model
 *	  options OPTIONS (JSON) applied if given.
 *
 *	    test_onnx_mnist MODEL.onnx IMAGES.idx3.gz LABELS.idx1.gz [EXPECTED [OPTIONS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"
#include "test_files.h"
#include "test_mnist.h"

#define EXPECTED_CORRECT 9813
#define BATCH 512

int
main(int argc, char **argv)
{
	size_t		model_len;
	uint8_t    *model_bytes;
	TestMnist	mnist;
	char		why[512];
	PiModel    *model;
	PiOnnxInfo	info;
	PiError		err = {0};
	PiExecutor *ex;
	int			correct = 0;
	int			expected = EXPECTED_CORRECT;

	if (argc < 4 || argc > 6)
	{
		fprintf(stderr, "usage: %s MODEL.onnx IMAGES.gz LABELS.gz [EXPECTED [OPTIONS]]\n", argv[0]);
		return 2;
	}
	if (argc >= 5)
		expected = atoi(argv[4]);
	model_bytes = (uint8_t *) test_read_file(argv[1], &model_len);
	if (model_bytes == NULL)
	{
		fprintf(stderr, "cannot read %s\n", argv[1]);
		return 2;
	}
	if (!test_mnist_load(argv[2], argv[3], &mnist, why, sizeof(why)))
	{
		fprintf(stderr, "%s\n", why);
		return 2;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	if (pi_onnx_load(model_bytes, model_len, NULL, 0, &model, &info, &err) != PI_OK)
	{
		fprintf(stderr, "FAIL: import: %s\n", err.message);
		return 1;
	}
	if (argc == 6 && pi_model_apply_options(model, argv[5], strlen(argv[5]), &err) != PI_OK)
	{
		fprintf(stderr, "FAIL: options %s: %s\n", argv[5], err.message);
		return 1;
	}
	printf("imported %s: IR %lld, opset %lld, producer %s %s, %d nodes%s%s\n", argv[1],
		   (long long) info.ir_version, (long long) info.opset, info.producer_name,
		   info.producer_version, model->norder, argc == 6 ? ", options " : "", argc == 6 ? argv[5] : "");
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
	for (uint32_t start = 0; start < mnist.count; start += BATCH)
	{
		int64_t		batch = (mnist.count - start < BATCH) ? mnist.count - start : BATCH;
		float	   *in = pi_executor_input(ex, 0);
		const float *out;

		for (int64_t i = 0; i < batch * 784; i++)
			in[i] = mnist.images[(size_t) start * 784 + i] / 255.0f;
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
			correct += (best == mnist.labels[start + r]);
		}
	}
	printf("MNIST test set: %d of %u correct (%.2f%%), expected %d\n", correct, mnist.count,
		   100.0 * correct / mnist.count, expected);
	pi_executor_free(ex);
	pi_model_free(model);
	free(model_bytes);
	test_mnist_free(&mnist);
	if (correct != expected)
	{
		fprintf(stderr, "FAIL: expected exactly %d correct\n", expected);
		return 1;
	}
	return 0;
}
