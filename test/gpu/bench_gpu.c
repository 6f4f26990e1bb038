/*
 * bench_gpu.c
 *	  Engine-level GPU benchmark: the 784-512-256-10 MLP (Dense+Relu, random
 *	  weights) on the CUDA device engine at batch 1, 64, 1,024 and 65,536,
 *	  each run timed from input rows in pinned memory to outputs back in
 *	  pinned memory (host-to-device copies included), against the roofline of
 *	  the measured pinned host-to-device bandwidth (784 * 4 bytes in per row),
 *	  and runs of random sizes from 1 to 4,096 rows (as merged requests come);
 *	  then the same MLP at precision int8 (its Dense layers as cuBLASLt int8
 *	  GEMMs) at batch 64, 1,024 and 65,536, in the same run.
 *
 *	  bench_gpu [SECONDS_PER_SIZE]
 *
 * The outputs of the timed runs at the largest batch are checked against the
 * CPU engine.  Needs a CUDA GPU (test/gpu/run-device.sh).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>

#include "pi_blas.h"
#include "pi_cuda.h"
#include "pi_engine.h"
#include "pi_format.h"

#define IN 784
#define H1 512
#define H2 256
#define OUT 10
#define MAX_BATCH 65536
#define MAX_SAMPLES 100000
#define COPY_BYTES ((size_t) 256 << 20)

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Uniform in [-scale, scale) from a 64-bit LCG. */
static float
uniform(uint64_t *state, float scale)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return ((float) (*state >> 40) / (float) (1 << 24) * 2.0f - 1.0f) * scale;
}

/* The MLP with random weights (uniform in +-1/sqrt(fan in)); exits on failure. */
static PiModel *
make_mlp(void)
{
	const char *json = "{\"format\":\"pg_infer\",\"version\":1,"
		"\"inputs\":[{\"name\":\"x\",\"shape\":[-1,784]}],\"outputs\":[\"y\"],\"nodes\":["
		"{\"name\":\"d1\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w1\",\"b1\"]},"
		"{\"name\":\"r1\",\"op\":\"Relu\",\"inputs\":[\"d1\"]},"
		"{\"name\":\"d2\",\"op\":\"Dense\",\"inputs\":[\"r1\",\"w2\",\"b2\"]},"
		"{\"name\":\"r2\",\"op\":\"Relu\",\"inputs\":[\"d2\"]},"
		"{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"r2\",\"w3\",\"b3\"]}]}";
	const int	shapes[6][2] = {{H1, IN}, {H1, 1}, {H2, H1}, {H2, 1}, {OUT, H2}, {OUT, 1}};
	const char *names[6] = {"w1", "b1", "w2", "b2", "w3", "b3"};
	char		header[1024];
	size_t		hlen = 0,
				floats = 0,
				at = 0;
	uint8_t    *buf;
	uint64_t	state = 42;
	PiModel    *m = NULL;
	PiError		err = {0};

	for (int t = 0; t < 6; t++)
		floats += (size_t) shapes[t][0] * shapes[t][1];
	hlen += snprintf(header + hlen, sizeof(header) - hlen, "{");
	for (int t = 0; t < 6; t++)
	{
		size_t		n = (size_t) shapes[t][0] * shapes[t][1];

		if (shapes[t][1] == 1)
			hlen += snprintf(header + hlen, sizeof(header) - hlen,
							 "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
							 t ? "," : "", names[t], shapes[t][0], at * 4, (at + n) * 4);
		else
			hlen += snprintf(header + hlen, sizeof(header) - hlen,
							 "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
							 t ? "," : "", names[t], shapes[t][0], shapes[t][1], at * 4, (at + n) * 4);
		at += n;
	}
	hlen += snprintf(header + hlen, sizeof(header) - hlen, "}");
	if ((buf = malloc(8 + hlen + floats * 4)) == NULL)
		exit(2);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) hlen >> (8 * i));
	memcpy(buf + 8, header, hlen);
	at = 0;
	for (int t = 0; t < 6; t++)
	{
		float		scale = 1.0f / sqrtf((float) (t < 2 ? IN : t < 4 ? H1 : H2));

		for (size_t i = 0; i < (size_t) shapes[t][0] * shapes[t][1]; i++, at++)
		{
			float		v = uniform(&state, scale);

			memcpy(buf + 8 + hlen + at * 4, &v, 4);
		}
	}
	if (pi_model_load(json, strlen(json), buf, 8 + hlen + floats * 4, &m, &err) != PI_OK)
	{
		fprintf(stderr, "FAIL: MLP: %s\n", err.message);
		exit(1);
	}
	free(buf);
	return m;
}

/* Pinned host-to-device bandwidth in bytes per second (best of 10 copies of 256 MiB). */
static double
h2d_bandwidth(void)
{
	void	   *host,
			   *dev;
	cudaStream_t stream;
	double		best = 0.0;

	if (cudaMallocHost(&host, COPY_BYTES) != cudaSuccess || cudaMalloc(&dev, COPY_BYTES) != cudaSuccess ||
		cudaStreamCreate(&stream) != cudaSuccess)
	{
		fprintf(stderr, "FAIL: buffers for the bandwidth measurement\n");
		exit(1);
	}
	memset(host, 1, COPY_BYTES);
	for (int rep = 0; rep < 11; rep++)
	{
		double		t0 = now(),
					t;

		if (cudaMemcpyAsync(dev, host, COPY_BYTES, cudaMemcpyHostToDevice, stream) != cudaSuccess ||
			cudaStreamSynchronize(stream) != cudaSuccess)
		{
			fprintf(stderr, "FAIL: pinned copy\n");
			exit(1);
		}
		t = now() - t0;
		if (rep > 0 && COPY_BYTES / t > best)	/* the first copy warms up */
			best = COPY_BYTES / t;
	}
	cudaStreamDestroy(stream);
	cudaFree(dev);
	cudaFreeHost(host);
	return best;
}

/* Sorts doubles ascending (for the percentiles). */
static int
by_value(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Times runs at one batch size for about seconds; prints one result line. */
static void
bench_batch(PiCudaExecutor *gx, int64_t batch, double seconds, double roofline_rows, const char *mode)
{
	static double times[MAX_SAMPLES];
	PiError		err = {0};
	int			n = 0;
	double		total = 0.0,
				start;

	/* as enqueued, graph capture, then a few replays before timing */
	for (int w = 0; w < 5; w++)
		if (pi_cuda_executor_run(gx, batch, &err) != PI_OK)
		{
			fprintf(stderr, "FAIL: run at batch %lld: %s\n", (long long) batch, err.message);
			exit(1);
		}
	start = now();
	while (n < MAX_SAMPLES && (n < 10 || now() - start < seconds))
	{
		double		t0 = now();

		if (pi_cuda_executor_run(gx, batch, &err) != PI_OK)
		{
			fprintf(stderr, "FAIL: run at batch %lld: %s\n", (long long) batch, err.message);
			exit(1);
		}
		times[n] = now() - t0;
		total += times[n++];
	}
	qsort(times, n, sizeof(double), by_value);
	printf("%-5s batch %6lld: %9.1f us per batch (p50 %9.1f, p99 %9.1f, %d runs), %12.0f rows/s, %5.1f%% of the H2D roofline\n",
		   mode, (long long) batch, total / n * 1e6, times[n / 2] * 1e6, times[(int) (n * 0.99)] * 1e6, n,
		   batch * n / total, 100.0 * (batch * n / total) / roofline_rows);
}

/*
 * Times runs of random sizes from 1 to max rows (merged requests come in
 * many sizes: bucketed graphs serve them) for about seconds; one line.
 */
static void
bench_mixed(PiCudaExecutor *gx, int64_t max, double seconds)
{
	PiError		err = {0};
	uint64_t	state = 11;
	int64_t		rows = 0;
	int			n = 0;
	double		start = now();

	while (n < 20 || now() - start < seconds)
	{
		int64_t		batch = 1 + (int64_t) ((uniform(&state, 0.5f) + 0.5f) * (max - 1));

		if (pi_cuda_executor_run(gx, batch, &err) != PI_OK)
		{
			fprintf(stderr, "FAIL: run at batch %lld: %s\n", (long long) batch, err.message);
			exit(1);
		}
		rows += batch;
		n++;
	}
	printf("fp32  mixed batches of 1 to %lld rows: %d runs, %.1f us per batch, %.0f rows/s (warm-up included)\n",
		   (long long) max, n, (now() - start) / n * 1e6, rows / (now() - start));
}

/* Whether the last run's outputs of batch rows agree with the CPU engine's (1e-5). */
static bool
matches_cpu(const PiModel *m, PiCudaExecutor *gx, int64_t batch)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, batch, &err);
	const float *cpu,
			   *gpu = pi_cuda_executor_output(gx, 0);
	double		worst = 0.0;

	if (ex == NULL)
	{
		fprintf(stderr, "FAIL: CPU executor: %s\n", err.message);
		return false;
	}
	memcpy(pi_executor_input(ex, 0), pi_cuda_executor_input(gx, 0), sizeof(float) * batch * IN);
	if (pi_executor_run(ex, batch, &err) != PI_OK)
	{
		fprintf(stderr, "FAIL: CPU run: %s\n", err.message);
		pi_executor_free(ex);
		return false;
	}
	cpu = pi_executor_output(ex, 0);
	for (int64_t i = 0; i < batch * OUT; i++)
	{
		double		d = fabs((double) gpu[i] - cpu[i]) / fmax(1.0, fabs((double) cpu[i]));

		if (isnan(d))
			worst = INFINITY;
		else if (d > worst)
			worst = d;
	}
	pi_executor_free(ex);
	printf("batch %lld outputs against the CPU engine: worst |gpu-cpu|/max(1,|cpu|) %.2e (limit 1e-5)\n",
		   (long long) batch, worst);
	if (!(worst <= 1e-5))
	{
		fprintf(stderr, "FAIL: the timed runs' outputs differ from the CPU engine's\n");
		return false;
	}
	return true;
}

/* The MLP at precision int8 at batch 64, 1,024 and 65,536 (same rows); false on failure. */
static bool
bench_int8(PiCudaContext *ctx, PiModel *m, double seconds, double roofline_rows)
{
	const char *options = "{\"precision\": \"int8\"}";
	const int64_t batches[] = {64, 1024, MAX_BATCH};
	PiError		err = {0};
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;
	uint64_t	state = 7;

	if (pi_model_apply_options(m, options, strlen(options), &err) != PI_OK ||
		(dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, MAX_BATCH, &err)) == NULL)
	{
		fprintf(stderr, "FAIL: the MLP at int8 on the device: %s\n", err.message);
		pi_cuda_model_free(dm);
		return false;
	}
	for (int64_t i = 0; i < (int64_t) MAX_BATCH * IN; i++)
		pi_cuda_executor_input(gx, 0)[i] = uniform(&state, 1.0f);
	printf("model at int8: executor %.1f MiB, weights %.1f MiB on the device\n",
		   pi_cuda_executor_bytes(gx) / 1048576.0, pi_cuda_model_bytes(dm) / 1048576.0);
	for (int b = 0; b < 3; b++)
		bench_batch(gx, batches[b], seconds, roofline_rows, "int8");
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	return true;
}

int
main(int argc, char **argv)
{
	double		seconds = argc > 1 ? atof(argv[1]) : 1.0;
	const int64_t batches[] = {1, 64, 1024, MAX_BATCH};
	PiError		err = {0};
	PiCudaContext *ctx;
	PiCudaDeviceInfo info;
	PiCudaModel *dm;
	PiCudaExecutor *gx;
	PiModel    *m = make_mlp();
	uint64_t	state = 7;
	double		bandwidth,
				roofline_rows;

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	if ((ctx = pi_cuda_context_new(0, &err)) == NULL || pi_cuda_device_info(ctx, &info, &err) != PI_OK ||
		(dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, MAX_BATCH, &err)) == NULL)
	{
		fprintf(stderr, "FAIL: device setup: %s\n", err.message);
		return 1;
	}
	for (int64_t i = 0; i < (int64_t) MAX_BATCH * IN; i++)
		pi_cuda_executor_input(gx, 0)[i] = uniform(&state, 1.0f);
	bandwidth = h2d_bandwidth();
	roofline_rows = bandwidth / (IN * sizeof(float));
	printf("device: %s (compute capability %d.%d)\n", info.name, info.compute_major, info.compute_minor);
	printf("model: MLP 784-512-256-10, %lld parameters; executor %.1f MiB, weights %.1f MiB on the device\n",
		   (long long) m->parameter_count, pi_cuda_executor_bytes(gx) / 1048576.0,
		   pi_cuda_model_bytes(dm) / 1048576.0);
	printf("pinned H2D bandwidth: %.2f GB/s; roofline %.0f rows/s at %d bytes in per row\n",
		   bandwidth / 1e9, roofline_rows, (int) (IN * sizeof(float)));
	for (int b = 0; b < 4; b++)
		bench_batch(gx, batches[b], seconds, roofline_rows, "fp32");
	bench_mixed(gx, 4096, seconds);
	if (!matches_cpu(m, gx, MAX_BATCH))
		return 1;
	pi_cuda_set_tf32(ctx, true);
	bench_batch(gx, MAX_BATCH, seconds, roofline_rows, "tf32");
	pi_cuda_set_tf32(ctx, false);
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	if (!bench_int8(ctx, m, seconds, roofline_rows))
		return 1;
	pi_cuda_context_free(ctx);
	pi_model_free(m);
	return 0;
}
