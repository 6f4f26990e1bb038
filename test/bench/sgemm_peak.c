/*
 * sgemm_peak.c
 *	  Standalone SGEMM throughput of one forward pass of a Dense MLP, on the
 *	  same OpenBLAS the server loads (libopenblas.so.0, one thread), for
 *	  test/bench/batching.py.
 *
 *	  For each layer [in -> out] it calls what pg_infer's Dense kernel calls
 *	  for a batch of M rows: C[M,out] (preset to the bias, beta = 1) +=
 *	  X[M,in] * W[out,in]^T, row-major, NoTrans x Trans.  One "forward pass"
 *	  is the GEMMs of all layers in turn (activations feed the next layer;
 *	  no activation function, no bias copy timed).  Prints per-layer and
 *	  combined GFLOP/s, the best over several timed repetitions after a
 *	  warm-up.
 *
 *	  gcc -O2 -o sgemm_peak sgemm_peak.c -lopenblas
 *	  OPENBLAS_NUM_THREADS=1 ./sgemm_peak [M [seconds [in h1 h2 ... out]]]
 *	  default: M = 256, 0.5 s per measurement, 784 512 256 10
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);
extern int	openblas_get_num_threads(void);

#define MAX_LAYERS 16

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *
random_floats(size_t n, float scale, unsigned *seed)
{
	float	   *p = malloc(n * sizeof(float));

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
	{
		*seed = *seed * 1103515245u + 12345u;
		p[i] = scale * ((float) ((*seed >> 8) & 0xffff) / 65536.0f - 0.25f);
	}
	return p;
}

static int	nlayers;
static int	widths[MAX_LAYERS + 1];
static float *act[MAX_LAYERS + 1];
static float *weight[MAX_LAYERS];

static void
layer(int l, int m)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, widths[l + 1], widths[l],
				1.0f, act[l], widths[l], weight[l], widths[l], 1.0f, act[l + 1], widths[l + 1]);
}

/* Best seconds per call of fn over timed repetitions of about budget seconds. */
static double
best_time(int first, int last, int m, double budget)
{
	double		best = 1e30,
				start = now();
	int			reps = 0;

	for (int l = first; l < last; l++)	/* warm-up */
		layer(l, m);
	while (reps < 5 || now() - start < budget)
	{
		double		t0 = now(),
					dt;

		for (int l = first; l < last; l++)
			layer(l, m);
		dt = now() - t0;
		if (dt < best)
			best = dt;
		reps++;
	}
	return best;
}

int
main(int argc, char **argv)
{
	int			m = argc > 1 ? atoi(argv[1]) : 256;
	double		budget = argc > 2 ? atof(argv[2]) : 0.5;
	unsigned	seed = 12345;
	double		flops_total = 0,
				t_total;

	if (argc > 4)
	{
		nlayers = argc - 4;
		if (nlayers > MAX_LAYERS)
		{
			fprintf(stderr, "at most %d layers\n", MAX_LAYERS);
			return 2;
		}
		for (int i = 0; i <= nlayers; i++)
			widths[i] = atoi(argv[3 + i]);
	}
	else
	{
		int			def[] = {784, 512, 256, 10};

		nlayers = 3;
		memcpy(widths, def, sizeof(def));
	}
	if (m < 1)
	{
		fprintf(stderr, "M must be positive\n");
		return 2;
	}
	for (int i = 0; i <= nlayers; i++)
		act[i] = random_floats((size_t) m * widths[i], 4.0f, &seed);
	for (int l = 0; l < nlayers; l++)
		weight[l] = random_floats((size_t) widths[l + 1] * widths[l], 0.1f, &seed);

	printf("openblas: %s; core %s; threads %d\n", openblas_get_config(), openblas_get_corename(),
		   openblas_get_num_threads());
	for (int l = 0; l < nlayers; l++)
	{
		double		flops = 2.0 * m * widths[l] * widths[l + 1];
		double		t = best_time(l, l + 1, m, budget / nlayers);

		flops_total += flops;
		printf("layer %d: M=%d N=%d K=%d  %.3f us  %.2f GFLOP/s\n", l + 1, m, widths[l + 1], widths[l],
			   t * 1e6, flops / t / 1e9);
	}
	t_total = best_time(0, nlayers, m, budget);
	printf("forward pass: M=%d  %.3f us  %.2f GFLOP/s\n", m, t_total * 1e6, flops_total / t_total / 1e9);
	printf("GFLOPS %.4f\n", flops_total / t_total / 1e9);
	return 0;
}
