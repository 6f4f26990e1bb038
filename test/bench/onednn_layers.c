/*
 * onednn_layers.c
 *	  One layer (convolution or fully connected, with bias and ReLU fused as
 *	  a post-op) through oneDNN's CPU primitives, for
 *	  test/bench/onednn_layers.py, which times the same layer in pg_infer's
 *	  engine: how the engine's own kernels compare with the library the
 *	  engine issue names as an option.
 *
 *	  onednn_layers conv LAYOUT SECONDS BATCH C H W K KH KW STRIDE PAD GROUPS
 *	  onednn_layers fc LAYOUT SECONDS BATCH K M
 *
 * LAYOUT is "blocked" (source and destination in the layouts oneDNN picks:
 * its best case, as if a whole network stayed in them) or "plain" (NCHW or
 * row-major, the engine's own layout between layers).  Weights are in the
 * primitive's layout either way, reordered once before timing, as the
 * engine packs its weights once at load.  Run with OMP_NUM_THREADS=1: the
 * timed seconds are the calling thread's CPU time, like bench_engine's.
 *
 * Prints "batch N rows_per_s R impl NAME": the best of 5 rounds after a
 * warm-up run, and the implementation oneDNN chose (its JIT kernel's name).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#define ROUNDS 5

/* Exits with the failed call's name when oneDNN reports an error. */
#define CHECK(call) \
	do { \
		dnnl_status_t s_ = (call); \
		if (s_ != dnnl_success) \
		{ \
			fprintf(stderr, "onednn_layers: %s failed: status %d\n", #call, (int) s_); \
			exit(1); \
		} \
	} while (0)

/* Seconds of CPU time of this thread. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * A memory object for the primitive's descriptor of what (index: 1 for the
 * bias among the weights), filled with small pseudo-random values.
 */
static dnnl_memory_t
filled_memory(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index, dnnl_engine_t eng,
			  unsigned *seed)
{
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
	dnnl_memory_t m;
	float	   *p;
	size_t		n = dnnl_memory_desc_get_size(md) / sizeof(float);

	CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
	CHECK(dnnl_memory_get_data_handle(m, (void **) &p));
	for (size_t i = 0; i < n; i++)
	{
		*seed = *seed * 1103515245u + 12345u;
		p[i] = ((float) ((*seed >> 9) & 0xffff) / 65536.0f - 0.5f) * 0.2f;
	}
	return m;
}

/* The attributes: ReLU after bias. */
static dnnl_primitive_attr_t
relu_attr(void)
{
	dnnl_post_ops_t po;
	dnnl_primitive_attr_t attr;

	CHECK(dnnl_post_ops_create(&po));
	CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
	CHECK(dnnl_primitive_attr_create(&attr));
	CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
	CHECK(dnnl_post_ops_destroy(po));
	return attr;
}

int
main(int argc, char **argv)
{
	bool		conv;
	bool		blocked;
	double		seconds;
	long		batch;
	dnnl_engine_t eng;
	dnnl_stream_t stream;
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t prim;
	dnnl_primitive_attr_t attr = relu_attr();
	dnnl_format_tag_t act_tag;
	dnnl_memory_desc_t src_md,
				w_md,
				b_md,
				dst_md;
	dnnl_memory_t src,
				w,
				b,
				dst;
	const char *impl = "?";
	unsigned	seed = 12345;
	double		best = 0.0;

	if (argc < 5 || (strcmp(argv[1], "conv") != 0 && strcmp(argv[1], "fc") != 0) ||
		(strcmp(argv[2], "blocked") != 0 && strcmp(argv[2], "plain") != 0) ||
		argc != (strcmp(argv[1], "conv") == 0 ? 14 : 7))
	{
		fprintf(stderr, "usage: onednn_layers conv blocked|plain SECONDS BATCH C H W K KH KW STRIDE PAD GROUPS\n"
				"       onednn_layers fc blocked|plain SECONDS BATCH K M\n");
		return 2;
	}
	conv = strcmp(argv[1], "conv") == 0;
	blocked = strcmp(argv[2], "blocked") == 0;
	seconds = atof(argv[3]);
	batch = atol(argv[4]);
	CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
	if (conv)
	{
		long		c = atol(argv[5]),
					h = atol(argv[6]),
					wd = atol(argv[7]),
					k = atol(argv[8]),
					kh = atol(argv[9]),
					kw = atol(argv[10]),
					stride = atol(argv[11]),
					pad = atol(argv[12]),
					groups = atol(argv[13]);
		long		oh = (h + 2 * pad - kh) / stride + 1,
					ow = (wd + 2 * pad - kw) / stride + 1;
		dnnl_dims_t src_dims = {batch, c, h, wd};
		dnnl_dims_t dst_dims = {batch, k, oh, ow};
		dnnl_dims_t w_dims = {groups, k / groups, c / groups, kh, kw};
		dnnl_dims_t b_dims = {k};
		dnnl_dims_t strides = {stride, stride};
		dnnl_dims_t pads = {pad, pad};
		dnnl_convolution_desc_t cd;

		act_tag = blocked ? dnnl_format_tag_any : dnnl_nchw;
		CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, act_tag));
		CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, act_tag));
		CHECK(dnnl_memory_desc_init_by_tag(&w_md, 5, w_dims, dnnl_f32, dnnl_format_tag_any));
		CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_x));
		CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
												 dnnl_convolution_direct, &src_md, &w_md,
												 &b_md, &dst_md, strides, pads, pads));
		CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
	}
	else
	{
		long		k = atol(argv[5]),
					m = atol(argv[6]);
		dnnl_dims_t src_dims = {batch, k};
		dnnl_dims_t dst_dims = {batch, m};
		dnnl_dims_t w_dims = {m, k};
		dnnl_dims_t b_dims = {m};
		dnnl_inner_product_desc_t ipd;

		act_tag = blocked ? dnnl_format_tag_any : dnnl_nc;
		CHECK(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_f32, act_tag));
		CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, act_tag));
		CHECK(dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_f32, dnnl_format_tag_any));
		CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_x));
		CHECK(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_md,
												   &w_md, &b_md, &dst_md));
		CHECK(dnnl_primitive_desc_create(&pd, &ipd, attr, eng, NULL));
	}
	CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	src = filled_memory(pd, dnnl_query_src_md, 0, eng, &seed);
	w = filled_memory(pd, dnnl_query_weights_md, 0, eng, &seed);
	b = filled_memory(pd, dnnl_query_weights_md, 1, eng, &seed);
	dst = filled_memory(pd, dnnl_query_dst_md, 0, eng, &seed);
	CHECK(dnnl_primitive_create(&prim, pd));
	{
		dnnl_exec_arg_t args[] = {
			{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}
		};

		CHECK(dnnl_primitive_execute(prim, stream, 4, args));
		CHECK(dnnl_stream_wait(stream));
		for (int r = 0; r < ROUNDS; r++)
		{
			double		start = now(),
						elapsed;
			long		runs = 0;

			do
			{
				CHECK(dnnl_primitive_execute(prim, stream, 4, args));
				CHECK(dnnl_stream_wait(stream));
				runs++;
			} while ((elapsed = now() - start) < seconds / ROUNDS);
			if (runs * batch / elapsed > best)
				best = runs * batch / elapsed;
		}
	}
	printf("batch %ld rows_per_s %.1f impl %s\n", batch, best, impl);
	dnnl_primitive_destroy(prim);
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	dnnl_memory_destroy(src);
	dnnl_memory_destroy(w);
	dnnl_memory_destroy(b);
	dnnl_memory_destroy(dst);
	dnnl_stream_destroy(stream);
	dnnl_engine_destroy(eng);
	return 0;
}
