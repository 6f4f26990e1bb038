/*
 * test_executor.c
 *	  The executor process (pg_infer_executor) through its pipes and arena,
 *	  started as the inference worker starts it (a memfd arena and
 *	  pi_exec_spawn): every fixture of test/fixtures/MANIFEST loaded and run
 *	  against the CPU engine in this process, models resident together,
 *	  refused requests, broken streams, "cuda" without a GPU and on the CPU
 *	  stand-in of pg_infer_cuda.so (test/executor/fake_cuda.so, with a
 *	  sticky CUDA error injected), a missing program, kill -9, its parent's
 *	  death, and what it inherits.
 *
 *	  test_executor PATH/pg_infer_executor FIXTURE_DIR
 *
 * Prints one line per group of checks (and each failed check), then
 * "executor: N passed, N failed"; exits 1 on any failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_executor.h"
#include "pi_onnx.h"
#include "test_files.h"

#define ARENA_BYTES ((int64_t) 64 << 20)
#define MAX_BATCH 64

static const char *program;
static int	passed;
static int	failed;
static int	group_checks;
static int	group_failed;

/* A started executor with its arena. */
typedef struct Exec
{
	PiExecProcess proc;
	int			arena_fd;
	uint8_t    *arena;
	int64_t		map_bytes;		/* the memfd's size, mapped here */
	PiExecReply hello;
	int			hello_rc;		/* pi_exec_receive's result for the HELLO */
} Exec;

/* A fixture case: its model, tensors and image. */
typedef struct Fixture
{
	char		name[128];
	PiModel    *model;
	PiTensorSet io;
	uint8_t    *image;
	int64_t		image_bytes;
	int64_t		batch;
} Fixture;

/* Records one check; prints it when it fails. */
static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	group_checks++;
	if (ok)
	{
		passed++;
		return;
	}
	failed++;
	group_failed++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Closes a group of checks with one line. */
static void
group_end(const char *what)
{
	if (group_failed == 0)
		printf("ok: %s (%d checks)\n", what, group_checks);
	else
		printf("FAIL: %s: %d of %d checks failed\n", what, group_failed, group_checks);
	fflush(stdout);
	group_checks = group_failed = 0;
}

/*
 * Starts program as the worker does: an arena memfd of file_bytes (the
 * executor is told arena_bytes), pi_exec_spawn, and the HELLO reply.
 */
static bool
exec_start_file(Exec *e, const char *prog, const char *device, int64_t arena_bytes,
				int64_t file_bytes, int64_t max_batch, const char *cuda_library)
{
	char		errbuf[256];

	memset(e, 0, sizeof(*e));
	e->map_bytes = file_bytes;
	e->arena_fd = memfd_create("pg_infer_arena", MFD_CLOEXEC);
	if (e->arena_fd < 0 || ftruncate(e->arena_fd, file_bytes) != 0 ||
		(e->arena = mmap(NULL, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, e->arena_fd, 0)) == MAP_FAILED)
	{
		check(false, "arena of %lld bytes: %s", (long long) file_bytes, strerror(errno));
		return false;
	}
	if (pi_exec_spawn(&e->proc, prog, device, e->arena_fd, arena_bytes, max_batch,
					  cuda_library, errbuf, sizeof(errbuf)) != 0)
	{
		check(false, "spawn %s: %s", prog, errbuf);
		return false;
	}
	e->hello_rc = pi_exec_receive(&e->proc, &e->hello);
	return true;
}

/* Starts the executor over an arena of exactly arena_bytes. */
static bool
exec_start(Exec *e, const char *device, int64_t max_batch, const char *cuda_library)
{
	return exec_start_file(e, program, device, ARENA_BYTES, ARENA_BYTES, max_batch, cuda_library);
}

/* Stops the executor (pi_exec_stop), says how it ended in how, frees the arena. */
static void
exec_end(Exec *e, char *how, size_t len)
{
	pi_exec_stop(&e->proc, how, len);
	if (e->arena != NULL && e->arena != MAP_FAILED)
		munmap(e->arena, e->map_bytes);
	if (e->arena_fd >= 0)
		close(e->arena_fd);
	e->arena = NULL;
	e->arena_fd = -1;
}

/* Stops the executor and checks how it ended. */
static void
exec_end_expect(Exec *e, const char *expected, const char *what)
{
	char		how[128];

	exec_end(e, how, sizeof(how));
	check(strcmp(how, expected) == 0, "%s: executor %s, expected \"%s\"", what, how, expected);
}

/* A request for command on handle with the right magic. */
static PiExecRequest
make_request(PiExecCommand command, uint64_t handle)
{
	PiExecRequest req;

	memset(&req, 0, sizeof(req));
	req.magic = PI_EXEC_PROTOCOL_MAGIC;
	req.command = command;
	req.model_handle = handle;
	return req;
}

/* Sends req (and payload) and reads the reply; pi_exec_receive's result, or -1. */
static int
request(Exec *e, const PiExecRequest *req, const void *payload, PiExecReply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (pi_exec_send(&e->proc, req, payload) != 0)
		return -1;
	return pi_exec_receive(&e->proc, reply);
}

/* Sends req and checks that the reply has status and a message containing fragment. */
static void
expect_status(Exec *e, const PiExecRequest *req, const void *payload, PiStatus status,
			  const char *fragment, const char *what)
{
	PiExecReply reply;
	int			rc = request(e, req, payload, &reply);

	check(rc == 0 && reply.command == req->command && reply.status == (int32_t) status &&
		  strstr(reply.message, fragment) != NULL,
		  "%s: receive %d, command %u, status %d (expected %d), message \"%s\" (expected \"%s\")",
		  what, rc, reply.command, reply.status, status, reply.message, fragment);
}

/* Writes the image of f->model; false with a failed check when it cannot. */
static bool
fixture_image(Fixture *f)
{
	PiError		err = {0};

	f->image_bytes = pi_model_image_size(f->model);
	f->image = aligned_alloc(PI_IMAGE_ALIGN, (f->image_bytes + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN);
	if (f->image == NULL || pi_model_image_write(f->model, f->image, &err) != PI_OK)
	{
		check(false, "%s: image: %s", f->name, err.message);
		return false;
	}
	return true;
}

/* Loads fixture NAME and writes its image; false with a failed check when it cannot. */
static bool
fixture_open(const char *dir, const char *name, Fixture *f)
{
	PiError		err = {0};

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (!test_fixture_load(dir, name, &f->model, &f->io, &err))
	{
		check(false, "%s: fixture does not load: %s", name, err.message);
		return false;
	}
	if (!fixture_image(f))
		return false;
	for (int i = 0; i < f->model->ninputs; i++)
	{
		const PiTensor *in = test_fixture_input(&f->io, f->model, i);

		if (in == NULL || (i > 0 && in->dims[0] != f->batch))
		{
			check(false, "%s: input %d missing or of another batch", name, i);
			return false;
		}
		f->batch = in->dims[0];
	}
	return true;
}

/* Frees what fixture_open made. */
static void
fixture_close(Fixture *f)
{
	pi_model_free(f->model);
	pi_tensor_set_free(&f->io);
	free(f->image);
	memset(f, 0, sizeof(*f));
}

/* Sends LOAD of the fixture's image under handle; the reply's status. */
static PiStatus
load_fixture(Exec *e, const Fixture *f, uint64_t handle, PiExecReply *reply)
{
	PiExecRequest req = make_request(PI_EXEC_LOAD, handle);
	int			rc;

	req.payload_bytes = f->image_bytes;
	rc = request(e, &req, f->image, reply);
	check(rc == 0 && reply->command == PI_EXEC_LOAD, "%s: LOAD answered (receive %d)", f->name, rc);
	return rc == 0 ? (PiStatus) reply->status : PI_ERR_DEVICE;
}

/* Opens fixture name and loads it under handle; false, after a failed check, when it cannot. */
static bool
open_and_load(Exec *e, const char *dir, const char *name, uint64_t handle, Fixture *f, PiExecReply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (fixture_open(dir, name, f) && load_fixture(e, f, handle, reply) == PI_OK)
		return true;
	check(false, "%s loads under handle %llu: %s", name, (unsigned long long) handle, reply->message);
	return false;
}

/* Bytes of rows of a value, rounded up to 64 (the test's arena layout). */
static int64_t
slot_bytes(const PiValue *v, int64_t rows)
{
	return (rows * pi_value_row_elems(v) * (int64_t) sizeof(float) + 63) / 64 * 64;
}

/*
 * A RUN of the fixture's inputs at its batch: inputs from arena offset 0
 * on, then the first noutputs outputs (each filled with 0xff bytes first).
 */
static PiExecRequest
fixture_run_request(Exec *e, const Fixture *f, uint64_t handle)
{
	PiExecRequest req = make_request(PI_EXEC_RUN, handle);
	const PiModel *m = f->model;
	int64_t		at = 0;

	req.rows = f->batch;
	req.noutputs = m->noutputs < PI_EXEC_MAX_IO ? m->noutputs : PI_EXEC_MAX_IO;
	for (int i = 0; i < m->ninputs && i < PI_EXEC_MAX_IO; i++)
	{
		const PiTensor *in = test_fixture_input(&f->io, m, i);

		memcpy(e->arena + at, in->data, sizeof(float) * in->numel);
		req.input_offset[i] = at;
		at += slot_bytes(&m->values[m->inputs[i]], f->batch);
	}
	for (int o = 0; o < req.noutputs; o++)
	{
		req.output_offset[o] = at;
		memset(e->arena + at, 0xff, slot_bytes(&m->values[m->outputs[o]], f->batch));
		at += slot_bytes(&m->values[m->outputs[o]], f->batch);
	}
	return req;
}

/* Runs the fixture in this process's CPU engine; NULL with a failed check. */
static PiExecutor *
run_in_process(const Fixture *f)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(f->model, f->batch, &err);

	if (ex != NULL)
	{
		for (int i = 0; i < f->model->ninputs; i++)
		{
			const PiTensor *in = test_fixture_input(&f->io, f->model, i);

			memcpy(pi_executor_input(ex, i), in->data, sizeof(float) * in->numel);
		}
		if (pi_executor_run(ex, f->batch, &err) == PI_OK)
			return ex;
	}
	check(false, "%s: in-process run: %s", f->name, err.message);
	pi_executor_free(ex);
	return NULL;
}

/*
 * Runs the fixture in the executor under handle and compares every output
 * it wrote with the in-process engine's: bit for bit when exact, else
 * within tolerance (|a - b| <= tolerance * max(1, |b|)).
 */
static void
run_and_compare(Exec *e, const Fixture *f, uint64_t handle, bool exact, double tolerance)
{
	PiExecRequest req = fixture_run_request(e, f, handle);
	PiExecReply reply;
	PiExecutor *ex = run_in_process(f);
	int			rc = request(e, &req, NULL, &reply);

	check(rc == 0 && reply.status == PI_OK && reply.run_usec >= 0,
		  "%s: RUN of %lld rows: receive %d, status %d: %s", f->name, (long long) f->batch,
		  rc, reply.status, reply.message);
	if (ex == NULL || rc != 0 || reply.status != PI_OK)
	{
		pi_executor_free(ex);
		return;
	}
	for (int o = 0; o < req.noutputs; o++)
	{
		const float *got = (const float *) (e->arena + req.output_offset[o]);
		const float *want = pi_executor_output(ex, o);
		int64_t		n = f->batch * pi_value_row_elems(&f->model->values[f->model->outputs[o]]);
		double		worst = 0.0;

		if (exact)
		{
			check(memcmp(got, want, sizeof(float) * n) == 0,
				  "%s: output %d (%lld values) equals the in-process engine's bit for bit",
				  f->name, o, (long long) n);
			continue;
		}
		for (int64_t k = 0; k < n; k++)
		{
			double		d = fabs((double) got[k] - want[k]) / fmax(1.0, fabs((double) want[k]));

			worst = isnan(d) ? INFINITY : fmax(worst, d);
		}
		check(worst <= tolerance, "%s: output %d within %.0e of the CPU engine (worst %.2e)",
			  f->name, o, tolerance, worst);
	}
	pi_executor_free(ex);
}

/* Sends UNLOAD of handle and checks it is answered with the bytes the model held. */
static void
unload(Exec *e, const char *name, uint64_t handle, int64_t bytes)
{
	PiExecRequest req = make_request(PI_EXEC_UNLOAD, handle);
	PiExecReply reply;
	int			rc = request(e, &req, NULL, &reply);

	check(rc == 0 && reply.status == PI_OK && reply.bytes == bytes,
		  "%s: UNLOAD: receive %d, status %d, bytes %lld (expected %lld): %s", name, rc,
		  reply.status, (long long) reply.bytes, (long long) bytes, reply.message);
}

/*
 * RUNs two texts through handle (the BERT fixture at length 8 as variant)
 * and compares the token vectors with the in-process engine's.
 */
static void
run_text_and_compare(Exec *e, const PiModel *variant, uint64_t handle)
{
	static const int ids[2][5] = {{2, 43, 434, 1290, 3}, {2, 7, 3, 0, 0}};
	PiExecRequest req = make_request(PI_EXEC_RUN, handle);
	PiExecReply reply;
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(variant, 2, &err);
	int64_t		out_elems = pi_value_row_elems(&variant->values[variant->outputs[0]]);
	int64_t		at = 0;
	int			rc;

	req.rows = 2;
	req.noutputs = 1;
	for (int i = 0; i < variant->ninputs; i++)
	{
		float	   *in = (float *) (e->arena + at);

		/* ids, then the mask, then the types (0) */
		for (int r = 0; r < 2; r++)
			for (int t = 0; t < 8; t++)
				in[r * 8 + t] = i == 0 ? (t < 5 ? ids[r][t] : 0) : i == 1 ? (t < 5 && ids[r][t] != 0) : 0;
		if (ex != NULL)
			memcpy(pi_executor_input(ex, i), in, sizeof(float) * 2 * 8);
		req.input_offset[i] = at;
		at += slot_bytes(&variant->values[variant->inputs[i]], 2);
	}
	req.output_offset[0] = at;
	rc = request(e, &req, NULL, &reply);
	check(ex != NULL && pi_executor_run(ex, 2, &err) == PI_OK, "in-process run: %s", err.message);
	check(rc == 0 && reply.status == PI_OK, "RUN over the version's weights: receive %d, status %d: %s",
		  rc, reply.status, reply.message);
	if (ex != NULL && rc == 0 && reply.status == PI_OK)
		check(memcmp(e->arena + at, pi_executor_output(ex, 0), sizeof(float) * 2 * out_elems) == 0,
			  "token vectors equal the in-process engine's bit for bit");
	pi_executor_free(ex);
}

/*
 * A text model at another sequence length, loaded over its version's
 * weights (base_handle): refused without them or over a handle not
 * loaded, runs as the variant does in process, and its version cannot be
 * unloaded before it.
 */
static void
test_variants(void)
{
	static const char path[] = "test/text/fixtures/bert_tiny/model_dynamic.onnx";
	size_t		len = 0;
	uint8_t    *onnx = (uint8_t *) test_read_file(path, &len);
	Fixture		version = {0};
	Fixture		variant = {0};
	PiError		err = {0};
	PiExecRequest req;
	PiExecReply reply;
	Exec		e;
	char		how[128];

	if (onnx == NULL ||
		pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 32, &version.model, NULL, &err) != PI_OK ||
		pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 8, &variant.model, NULL, &err) != PI_OK ||
		pi_model_share_weights(variant.model, version.model, &err) != PI_OK ||
		!fixture_image(&version) || !fixture_image(&variant))
	{
		check(false, "%s at 32 and 8: %s", path, err.message);
		goto done;
	}
	if (!exec_start(&e, "cpu", MAX_BATCH, NULL))
		goto done;
	check(load_fixture(&e, &version, 1, &reply) == PI_OK, "LOAD of the version: %s", reply.message);
	req = make_request(PI_EXEC_LOAD, 2);
	req.payload_bytes = variant.image_bytes;
	expect_status(&e, &req, variant.image, PI_ERR_INVALID, "from a base model, and none was given",
				  "LOAD of the variant without base_handle");
	req.base_handle = 7;
	expect_status(&e, &req, variant.image, PI_ERR_UNDEFINED, "LOAD of model 2 over model 7: that handle is not loaded",
				  "LOAD of the variant over a handle not loaded");
	req.base_handle = 1;
	check(request(&e, &req, variant.image, &reply) == 0 && reply.status == PI_OK &&
		  reply.bytes == variant.image_bytes && variant.image_bytes < version.image_bytes,
		  "LOAD of the variant over the version: status %d, %lld bytes (image %lld, the version's %lld): %s",
		  reply.status, (long long) reply.bytes, (long long) variant.image_bytes,
		  (long long) version.image_bytes, reply.message);
	run_text_and_compare(&e, variant.model, 2);
	req = make_request(PI_EXEC_UNLOAD, 1);
	expect_status(&e, &req, NULL, PI_ERR_INVALID, "UNLOAD of model 1: 1 models loaded over it are still loaded",
				  "UNLOAD of the version under its variant");
	unload(&e, "variant", 2, variant.image_bytes);
	unload(&e, "version", 1, version.image_bytes);
	exec_end(&e, how, sizeof(how));
	group_end("a text model at another length: LOAD over its version's weights (base_handle), refused "
			  "without them, runs bit for bit as in process, its version not unloaded before it");
done:
	fixture_close(&variant);
	fixture_close(&version);
	free(onnx);
}

static Exec fixtures_exec;
static uint64_t next_handle = 100;
static int	fixtures_run;
static int	fixtures_refused;

/* One fixture: LOAD, RUN against the in-process engine, UNLOAD. */
static void
fixture_case(const char *dir, const char *name)
{
	Fixture		f;
	PiExecReply reply;
	uint64_t	handle = next_handle++;
	PiStatus	st;

	if (!fixture_open(dir, name, &f))
	{
		fixture_close(&f);
		return;
	}
	st = load_fixture(&fixtures_exec, &f, handle, &reply);
	if (st == PI_ERR_LIMIT && f.model->ninputs > PI_EXEC_MAX_IO)
		fixtures_refused++;
	else if (st != PI_OK || reply.bytes != f.image_bytes || reply.free_bytes != 0)
		check(false, "%s: LOAD: status %d, bytes %lld (expected %lld), free %lld: %s", name, st,
			  (long long) reply.bytes, (long long) f.image_bytes, (long long) reply.free_bytes, reply.message);
	else
	{
		run_and_compare(&fixtures_exec, &f, handle, true, 0.0);
		unload(&fixtures_exec, name, handle, f.image_bytes);
		fixtures_run++;
	}
	fixture_close(&f);
}

/* HELLO of the CPU executor, and every fixture through it. */
static void
test_fixtures(const char *dir)
{
	int			cases;
	char		what[256];

	if (!exec_start(&fixtures_exec, "cpu", MAX_BATCH, NULL))
		return;
	check(fixtures_exec.hello_rc == 0 && fixtures_exec.hello.command == PI_EXEC_HELLO &&
		  fixtures_exec.hello.status == PI_OK && strcmp(fixtures_exec.hello.device_name, "cpu") == 0 &&
		  fixtures_exec.hello.bytes > 0,
		  "HELLO: receive %d, status %d, device \"%s\", %lld bytes", fixtures_exec.hello_rc,
		  fixtures_exec.hello.status, fixtures_exec.hello.device_name, (long long) fixtures_exec.hello.bytes);
	group_end("HELLO from the CPU executor: status ok, device \"cpu\", host memory");
	cases = test_fixture_each(dir, fixture_case);
	check(cases >= 40 && fixtures_run + fixtures_refused == cases,
		  "manifest lists %d cases (at least 40 expected), %d ran, %d refused", cases, fixtures_run, fixtures_refused);
	snprintf(what, sizeof(what), "fixtures: %d of %d loaded, run at their batch with outputs bit for bit "
			 "the in-process engine's, unloaded; %d refused (more than %d inputs)",
			 fixtures_run, cases, fixtures_refused, PI_EXEC_MAX_IO);
	group_end(what);
}

static Exec threads_exec;
static int	threads_run;

/* One fixture through the executor with three lanes: LOAD's plan, RUN against the engine. */
static void
threads_case(const char *dir, const char *name)
{
	Fixture		f;
	PiExecReply one,
				three,
				reply;
	PiExecRequest first;
	int64_t		packed = 0;
	uint64_t	handle = next_handle++;

	if (!fixture_open(dir, name, &f) || f.model->ninputs > PI_EXEC_MAX_IO)
	{
		fixture_close(&f);
		return;
	}
	if (load_fixture(&fixtures_exec, &f, handle, &one) == PI_OK &&
		load_fixture(&threads_exec, &f, handle, &three) == PI_OK &&
		pi_executor_packed_bytes(f.model, &packed))
	{
		check(three.row_bytes == one.row_bytes &&
			  three.fixed_bytes == packed + 3 * (one.fixed_bytes - packed) + 2 * one.row_bytes,
			  "%s: the plan of three lanes is one copy of the %lld packed bytes, three of the rest of the fixed "
			  "part and two rows more (%lld + r x %lld, one lane %lld + r x %lld)", name, (long long) packed,
			  (long long) three.fixed_bytes, (long long) three.row_bytes,
			  (long long) one.fixed_bytes, (long long) one.row_bytes);
		/* one lane for a row first: the batch's RUN then grows it and adds the lanes that share its weights */
		first = fixture_run_request(&threads_exec, &f, handle);
		first.rows = 1;
		check(request(&threads_exec, &first, NULL, &reply) == 0 && reply.status == PI_OK,
			  "%s: RUN of one row on three lanes: %s", name, reply.message);
		run_and_compare(&threads_exec, &f, handle, false, 1e-5);
		unload(&threads_exec, name, handle, f.image_bytes);
		unload(&fixtures_exec, name, handle, f.image_bytes);
		threads_run++;
	}
	else
		check(false, "%s: LOAD in both executors", name);
	fixture_close(&f);
}

/*
 * PG_INFER_EXECUTOR_THREADS: three lanes share each RUN's rows, and every
 * fixture's outputs match the in-process engine's.
 */
static void
test_threads(const char *dir)
{
	char		what[256];
	int			cases;

	setenv(PI_EXEC_THREADS_ENV, "3", 1);
	if (!exec_start(&threads_exec, "cpu", MAX_BATCH, NULL))
	{
		unsetenv(PI_EXEC_THREADS_ENV);
		return;
	}
	unsetenv(PI_EXEC_THREADS_ENV);
	check(threads_exec.hello_rc == 0 && threads_exec.hello.status == PI_OK &&
		  strstr(threads_exec.hello.device_name, "3 threads") != NULL,
		  "HELLO with three threads: status %d, device \"%s\"", threads_exec.hello.status,
		  threads_exec.hello.device_name);
	cases = test_fixture_each(dir, threads_case);
	check(threads_run >= 40, "%d of %d fixtures ran on three lanes", threads_run, cases);
	snprintf(what, sizeof(what), "three lanes (PG_INFER_EXECUTOR_THREADS=3): %d fixtures within 1e-5 of the "
			 "in-process engine, plans of three lanes with one copy of the packed weights", threads_run);
	group_end(what);
}

/* Two models resident at once, run in turn; UNLOAD, then RUN of it refused. */
static void
test_resident(const char *dir)
{
	Exec	   *e = &fixtures_exec;
	Fixture		a,
				b;
	PiExecReply reply;
	PiExecRequest req;

	memset(&b, 0, sizeof(b));
	if (open_and_load(e, dir, "model_mlp", 1, &a, &reply) &&
		open_and_load(e, dir, "model_resblock", 2, &b, &reply))
	{
		run_and_compare(e, &a, 1, true, 0.0);
		run_and_compare(e, &b, 2, true, 0.0);
		run_and_compare(e, &a, 1, true, 0.0);
		unload(e, a.name, 1, a.image_bytes);
		req = fixture_run_request(e, &a, 1);
		expect_status(e, &req, NULL, PI_ERR_UNDEFINED, "RUN of model 1: that handle is not loaded",
					  "RUN after UNLOAD");
		req = make_request(PI_EXEC_UNLOAD, 1);
		expect_status(e, &req, NULL, PI_ERR_UNDEFINED, "UNLOAD of model 1: that handle is not loaded",
					  "UNLOAD twice");
		run_and_compare(e, &b, 2, true, 0.0);
		unload(e, b.name, 2, b.image_bytes);
	}
	fixture_close(&a);
	fixture_close(&b);
	group_end("two models resident, run in turn; UNLOAD, then RUN and UNLOAD of it refused");
}

/* RUN requests with bad rows, offsets and output counts for f, loaded under handle 7. */
static void
bad_runs(Exec *e, const Fixture *f)
{
	PiExecRequest good = fixture_run_request(e, f, 7);
	PiExecRequest req;
	char		msg[64];
	int64_t		out_bytes = f->batch * pi_value_row_elems(&f->model->values[f->model->outputs[0]]) *
		(int64_t) sizeof(float);

	req = good;
	req.model_handle = 999999;
	expect_status(e, &req, NULL, PI_ERR_UNDEFINED, "RUN of model 999999: that handle is not loaded", "unknown handle");
	req = good;
	req.rows = 0;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "0 rows, expected 1 to 64", "rows 0");
	req.rows = -1;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "-1 rows, expected 1 to 64", "rows -1");
	req.rows = MAX_BATCH + 1;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "65 rows, expected 1 to 64", "rows above MAX_BATCH");
	req = good;
	req.input_offset[0] = ARENA_BYTES;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "input 0 takes", "input past the arena");
	req.input_offset[0] = -4;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "input 0 at arena offset -4, expected a multiple of 4 from 0",
				  "negative input offset");
	req.input_offset[0] = 2;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "at arena offset 2, expected a multiple of 4", "misaligned input offset");
	req.input_offset[0] = INT64_MAX - 3;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "past the arena's 67108864 bytes", "input offset + length overflows");
	req = good;
	req.output_offset[0] = ARENA_BYTES - out_bytes + 4;
	expect_status(e, &req, NULL, PI_ERR_LIMIT, "output 0 takes", "output one float past the arena");
	req.output_offset[0] = INT64_MIN;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "output 0 at arena offset", "output offset INT64_MIN");
	req = good;
	req.noutputs = f->model->noutputs + 1;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "2 outputs asked, expected 0 to 1", "noutputs above the model's");
	req.noutputs = PI_EXEC_MAX_IO + 1;
	snprintf(msg, sizeof(msg), "%d outputs asked", PI_EXEC_MAX_IO + 1);
	expect_status(e, &req, NULL, PI_ERR_INVALID, msg, "noutputs above PI_EXEC_MAX_IO");
	req.noutputs = -1;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "-1 outputs asked", "noutputs -1");
	req.noutputs = 0;
	expect_status(e, &req, NULL, PI_OK, "", "noutputs 0 runs without writing outputs");

	/* the last float of the arena is inside it */
	req = good;
	req.output_offset[0] = ARENA_BYTES - out_bytes;
	expect_status(e, &req, NULL, PI_OK, "", "output ending at the arena's last byte");
}

/* LOAD requests that are refused, with f loaded under handle 8. */
static void
bad_loads(Exec *e, const Fixture *f)
{
	PiExecRequest req;
	uint8_t    *bad;

	req = make_request(PI_EXEC_LOAD, 8);
	req.payload_bytes = f->image_bytes;
	expect_status(e, &req, f->image, PI_ERR_DUPLICATE, "LOAD of model 8: that handle is already loaded", "duplicate handle");
	req = make_request(PI_EXEC_LOAD, 9);
	expect_status(e, &req, NULL, PI_ERR_INVALID, "LOAD of model 9 carries no model image", "LOAD without a payload");

	bad = malloc(f->image_bytes);
	memcpy(bad, f->image, f->image_bytes);
	bad[0] ^= 0x5a;
	req.payload_bytes = f->image_bytes;
	expect_status(e, &req, bad, PI_ERR_CORRUPT, "model image is damaged", "image with a damaged header");
	memcpy(bad, f->image, f->image_bytes);
	req.payload_bytes = f->image_bytes - 64;
	expect_status(e, &req, bad, PI_ERR_CORRUPT, "model image is damaged", "truncated image");
	memset(bad, 0x41, f->image_bytes);
	req.payload_bytes = 4096;
	expect_status(e, &req, bad, PI_ERR_CORRUPT, "model image is damaged", "bytes that are no image");
	free(bad);

	/* the refused handle 9 is free, 8 still runs */
	req = make_request(PI_EXEC_RUN, 9);
	req.rows = 1;
	expect_status(e, &req, NULL, PI_ERR_UNDEFINED, "RUN of model 9: that handle is not loaded", "refused LOAD holds no handle");
}

/*
 * Loads model_mlp under handle, sends the refused requests of refused,
 * then checks that the model still runs exactly and unloads it.
 */
static void
test_refusals(const char *dir, uint64_t handle, void (*refused) (Exec *e, const Fixture *f),
			  const char *what)
{
	Exec	   *e = &fixtures_exec;
	Fixture		f;
	PiExecReply reply;

	if (open_and_load(e, dir, "model_mlp", handle, &f, &reply))
	{
		refused(e, &f);
		run_and_compare(e, &f, handle, true, 0.0);
		unload(e, f.name, handle, f.image_bytes);
	}
	fixture_close(&f);
	group_end(what);
}

/* Requests the executor refuses but keeps in step with: payload on RUN, unknown commands. */
static void
test_bad_requests(const char *dir)
{
	Exec	   *e = &fixtures_exec;
	PiExecRequest req;
	char		junk[100];
	Fixture		f;
	PiExecReply reply;
	PiExecRequest run;

	memset(junk, 0x7f, sizeof(junk));
	req = make_request(PI_EXEC_RUN, 1);
	req.payload_bytes = sizeof(junk);
	expect_status(e, &req, junk, PI_ERR_INVALID, "command 4 carries a payload of 100 bytes, expected none",
				  "RUN with a payload (read and discarded)");
	req = make_request(99, 0);
	expect_status(e, &req, NULL, PI_ERR_INVALID, "command 99 is not a request", "unknown command");
	req.payload_bytes = sizeof(junk);
	expect_status(e, &req, junk, PI_ERR_INVALID, "command 99 carries a payload", "unknown command with a payload");
	req = make_request(PI_EXEC_HELLO, 0);
	expect_status(e, &req, NULL, PI_ERR_INVALID, "command 1 is not a request", "HELLO as a request");
	req = make_request(PI_EXEC_UNLOAD, 0);
	req.payload_bytes = -5;
	expect_status(e, &req, NULL, PI_ERR_INVALID, "payload of -5 bytes, expected 0 or more", "negative payload_bytes");

	/* a run the engine refuses (Gather index out of range) comes back with its message */
	if (open_and_load(e, dir, "gather_embedding", 11, &f, &reply))
	{
		run = fixture_run_request(e, &f, 11);
		((float *) (e->arena + run.input_offset[0]))[0] = 1e6f;
		expect_status(e, &run, NULL, PI_ERR_INVALID, "is out of range", "the engine's run failure");
		run_and_compare(e, &f, 11, true, 0.0);
		unload(e, f.name, 11, f.image_bytes);
	}
	fixture_close(&f);
	group_end("requests refused in step: payload on RUN, unknown command, negative payload, engine run failure");
}

/* A fixture named name of the graph json over weights, with its image; false with a failed check. */
static bool
fixture_from_graph(const char *name, const char *json, PiTensorSet *weights, Fixture *f)
{
	PiError		err = {0};

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (pi_graph_load(json, strlen(json), weights, &f->model, &err) != PI_OK)
	{
		check(false, "%s: graph: %s", name, err.message);
		return false;
	}
	return fixture_image(f);
}

/*
 * A model of one input x [-1,1] expanded to [-1,width] and averaged back:
 * y = x, with width floats of activations per row.  No weights.
 */
static bool
expand_model(const char *name, int64_t width, Fixture *f)
{
	char		json[512];
	PiTensorSet none = {0};

	snprintf(json, sizeof(json),
			 "{\"format\": \"pg_infer\", \"version\": 1,"
			 " \"inputs\": [{\"name\": \"x\", \"dtype\": \"float32\", \"shape\": [-1, 1]}],"
			 " \"outputs\": [{\"name\": \"y\"}],"
			 " \"nodes\": [{\"name\": \"e\", \"op\": \"Expand\", \"inputs\": [\"x\"], \"attrs\": {\"shape\": [-1, %lld]}},"
			 " {\"name\": \"y\", \"op\": \"ReduceMean\", \"inputs\": [\"e\"], \"attrs\": {\"axes\": [1], \"keepdims\": 1}}]}",
			 (long long) width);
	return fixture_from_graph(name, json, &none, f);
}

/*
 * A RUN of rows rows of an expand_model under handle within limit bytes:
 * x = 1, 2, ... from arena offset 0, y after it.  Returns the reply's
 * status; when PI_OK, checks that y equals x.
 */
static PiStatus
run_expand(Exec *e, uint64_t handle, int64_t rows, int64_t limit, PiExecReply *reply)
{
	PiExecRequest req = make_request(PI_EXEC_RUN, handle);
	float	   *x = (float *) e->arena;
	float	   *y = x + 1024;
	bool		same = true;

	req.rows = rows;
	req.noutputs = 1;
	req.memory_limit = limit;
	req.output_offset[0] = 1024 * sizeof(float);
	for (int64_t r = 0; r < rows; r++)
	{
		x[r] = (float) (r + 1);
		y[r] = -1.0f;
	}
	if (request(e, &req, NULL, reply) != 0)
		return PI_ERR_DEVICE;
	for (int64_t r = 0; reply->status == PI_OK && r < rows; r++)
		same = same && y[r] == x[r];
	check(reply->status != PI_OK || same, "RUN of %lld rows of model %llu: y equals x", (long long) rows,
		  (unsigned long long) handle);
	return (PiStatus) reply->status;
}

/* The resident memory of a process (VmRSS), in bytes; -1 if unknown. */
static int64_t
process_rss(pid_t pid)
{
	char		path[64];
	char		line[256];
	long long	kb = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atoll(line + 6);
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* A Dense model of in x out weights (all 1/in), as a fixture with its image; false with a failed check. */
static bool
dense_model(const char *name, int64_t in, int64_t out, Fixture *f)
{
	char		json[512];
	PiTensorSet weights = {0};
	bool		ok;

	snprintf(json, sizeof(json),
			 "{\"format\": \"pg_infer\", \"version\": 1,"
			 " \"inputs\": [{\"name\": \"x\", \"dtype\": \"float32\", \"shape\": [-1, %lld]}],"
			 " \"outputs\": [{\"name\": \"y\"}],"
			 " \"nodes\": [{\"name\": \"y\", \"op\": \"Dense\", \"inputs\": [\"x\", \"w\"]}]}",
			 (long long) in);
	weights.tensors = calloc(1, sizeof(PiTensor));
	if (weights.tensors == NULL || (weights.tensors[0].data = malloc(sizeof(float) * in * out)) == NULL)
	{
		free(weights.tensors);
		memset(f, 0, sizeof(*f));
		check(false, "%s: out of memory", name);
		return false;
	}
	weights.count = 1;
	weights.tensors[0].name = strdup("w");
	weights.tensors[0].rank = 2;
	weights.tensors[0].dims[0] = out;
	weights.tensors[0].dims[1] = in;
	weights.tensors[0].numel = in * out;
	for (int64_t k = 0; k < in * out; k++)
		weights.tensors[0].data[k] = 1.0f / in;
	ok = fixture_from_graph(name, json, &weights, f);
	pi_tensor_set_free(&weights);
	return ok;
}

/*
 * Three lanes pack a model's weights once: a RUN over all three grows the
 * executor's memory by one packed copy (plus buffers), not three.
 */
static void
test_threads_share_weights(void)
{
	const int64_t mib = 1024 * 1024;
	Fixture		dense;
	PiExecReply reply;
	PiExecRequest req;
	int64_t		packed = 0,
				rss;
	uint64_t	handle = next_handle++;

	if (!dense_model("dense_2048x4096", 2048, 4096, &dense))
		return;
	if (load_fixture(&threads_exec, &dense, handle, &reply) == PI_OK &&
		pi_executor_packed_bytes(dense.model, &packed))
	{
		check(packed >= 32 * mib, "dense_2048x4096 packs %lld bytes of weights (32 MiB expected at least)",
			  (long long) packed);
		rss = process_rss(threads_exec.proc.pid);
		req = make_request(PI_EXEC_RUN, handle);
		req.rows = 3;
		req.noutputs = 1;
		memset(threads_exec.arena, 0, sizeof(float) * 3 * 2048);
		req.output_offset[0] = sizeof(float) * 3 * 2048;
		check(request(&threads_exec, &req, NULL, &reply) == 0 && reply.status == PI_OK &&
			  ((const float *) (threads_exec.arena + req.output_offset[0]))[0] == 0.0f,
			  "dense_2048x4096: RUN of 3 rows on three lanes: %s", reply.message);
		check(rss > 0 && process_rss(threads_exec.proc.pid) - rss < 2 * packed,
			  "dense_2048x4096: the RUN on three lanes grew the executor by %lld MiB, less than two copies of "
			  "its %lld MiB of packed weights", (long long) ((process_rss(threads_exec.proc.pid) - rss) / mib),
			  (long long) (packed / mib));
		unload(&threads_exec, dense.name, handle, dense.image_bytes);
	}
	else
		check(false, "dense_2048x4096: LOAD on three lanes: %s", reply.message);
	fixture_close(&dense);
	group_end("three lanes share one packed copy of a model's weights (executor memory)");
}

/*
 * Activation buffers are made per RUN, not at LOAD: a model whose
 * MAX_BATCH rows could not be addressed loads (and says how many rows it
 * takes); the LOAD reply gives the engine's buffer plan; a RUN grows the
 * buffers within its memory limit and frees other models' to make room.
 */
static void
test_activations(const char *dir)
{
	Exec		e;
	Fixture		huge,
				a,
				b,
				mlp;
	PiExecReply reply;
	PiExecRequest req;
	int64_t		one,
				two,
				rss;
	const int64_t mib = 1 << 20;

	memset(&huge, 0, sizeof(huge));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&mlp, 0, sizeof(mlp));
	if (!exec_start(&e, "cpu", MAX_BATCH, NULL))
		return;
	/* 40,000,000 floats a row: 53 rows are addressable (INT32_MAX floats), not MAX_BATCH */
	if (expand_model("expand_40m", 40000000, &huge) && load_fixture(&e, &huge, 1, &reply) == PI_OK)
	{
		check(reply.max_rows == INT32_MAX / 40000000 && reply.row_bytes >= 40000000 * (int64_t) sizeof(float) &&
			  reply.bytes == huge.image_bytes,
			  "40M floats a row: LOAD answers max_rows %lld (expected %d), row bytes %lld, bytes %lld",
			  (long long) reply.max_rows, INT32_MAX / 40000000, (long long) reply.row_bytes, (long long) reply.bytes);
		req = make_request(PI_EXEC_RUN, 1);
		req.rows = INT32_MAX / 40000000 + 1;
		expect_status(&e, &req, NULL, PI_ERR_LIMIT, "54 rows, expected 1 to 53", "a RUN past max_rows");
		unload(&e, huge.name, 1, huge.image_bytes);
	}
	else
		check(false, "expand_40m loads (max_batch %d): %s", MAX_BATCH, reply.message);
	/* the plan is the engine's: pi_executor_bytes of 1 and 2 rows */
	if (open_and_load(&e, dir, "model_mlp", 2, &mlp, &reply) &&
		pi_executor_bytes(mlp.model, 1, &one) && pi_executor_bytes(mlp.model, 2, &two))
		check(reply.row_bytes == two - one && reply.fixed_bytes == one - reply.row_bytes &&
			  reply.max_rows == MAX_BATCH,
			  "model_mlp: plan %lld + %lld a row (engine: %lld for 1 row, %lld for 2), max_rows %lld",
			  (long long) reply.fixed_bytes, (long long) reply.row_bytes, (long long) one, (long long) two,
			  (long long) reply.max_rows);
	/* two models of 8 MiB a row, 4 rows each, under a limit of 40 MiB: one's buffers at a time */
	if (expand_model("expand_a", 2 * mib, &a) && load_fixture(&e, &a, 3, &reply) == PI_OK &&
		expand_model("expand_b", 2 * mib, &b) && load_fixture(&e, &b, 4, &reply) == PI_OK)
	{
		check(run_expand(&e, 3, 4, 40 * mib, &reply) == PI_OK, "A: 4 rows within 40 MiB: %s", reply.message);
		rss = process_rss(e.proc.pid);
		check(run_expand(&e, 4, 4, 40 * mib, &reply) == PI_OK, "B: 4 rows within 40 MiB: %s", reply.message);
		check(process_rss(e.proc.pid) < rss + 16 * mib,
			  "B's buffers replaced A's: resident %lld MiB after A, %lld MiB after B",
			  (long long) rss / mib, (long long) process_rss(e.proc.pid) / mib);
		check(run_expand(&e, 3, 5, 40 * mib, &reply) == PI_ERR_LIMIT &&
			  strstr(reply.message, "5 rows need") != NULL && strstr(reply.message, "more than the limit of 41943040"),
			  "A: 5 rows over 40 MiB refused: %s", reply.message);
		check(run_expand(&e, 3, 5, 0, &reply) == PI_OK, "A: 5 rows without a limit: %s", reply.message);
		check(run_expand(&e, 4, 1, 1, &reply) == PI_ERR_LIMIT, "B: 1 row over a limit of 1 byte refused: %s",
			  reply.message);
		req = make_request(PI_EXEC_RUN, 3);
		req.rows = 1;
		req.noutputs = 1;
		req.memory_limit = -1;
		expect_status(&e, &req, NULL, PI_ERR_INVALID, "memory limit -1, expected 0 (none) or more bytes",
					  "negative memory limit");
	}
	else
		check(false, "the 8 MiB-a-row models load: %s", reply.message);
	fixture_close(&huge);
	fixture_close(&a);
	fixture_close(&b);
	fixture_close(&mlp);
	exec_end_expect(&e, "exited with status 0", "activations");
	group_end("activation buffers per RUN: LOAD makes none and gives the plan and max_rows; RUNs within "
			  "their memory limit, other models' buffers freed first");
}

/*
 * A request header (no payload follows) that breaks the stream: refused
 * with status, then the executor exits 1.
 */
static void
expect_fatal(const PiExecRequest *req, PiStatus status, const char *fragment, const char *what)
{
	Exec		e;
	PiExecReply reply;
	int			rc;

	if (!exec_start(&e, "cpu", MAX_BATCH, NULL))
		return;
	memset(&reply, 0, sizeof(reply));
	rc = pi_exec_write_all(e.proc.command_fd, req, sizeof(*req)) == 0 ? pi_exec_receive(&e.proc, &reply) : -1;
	check(rc == 0 && reply.status == (int32_t) status && strstr(reply.message, fragment) != NULL,
		  "%s: receive %d, status %d (expected %d), message \"%s\"", what, rc, reply.status, status, reply.message);
	check(pi_exec_receive(&e.proc, &reply) == 1, "%s: then end of file", what);
	exec_end_expect(&e, "exited with status 1", what);
}

/* Sends the first part bytes of a LOAD (header, then payload), then closes or kills. */
static void
cut_load(bool kill_it, size_t part, const char *expected, const char *what)
{
	Exec		e;
	PiExecRequest req = make_request(PI_EXEC_LOAD, 1);
	char		buf[sizeof(PiExecRequest) + 1000];
	PiExecReply reply;

	if (!exec_start(&e, "cpu", MAX_BATCH, NULL))
		return;
	req.payload_bytes = 1000;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &req, sizeof(req));
	check(pi_exec_write_all(e.proc.command_fd, buf, part) == 0, "%s: %zu bytes written", what, part);
	if (kill_it)
		kill(e.proc.pid, SIGKILL);
	else
	{
		close(e.proc.command_fd);
		e.proc.command_fd = -1;
	}
	check(pi_exec_receive(&e.proc, &reply) == 1, "%s: the reply pipe ends", what);
	exec_end_expect(&e, expected, what);
}

/* Bad magic, oversized payload, cut requests: refused or not, then exit 1. */
static void
test_broken_streams(void)
{
	PiExecRequest req = make_request(PI_EXEC_QUIT, 0);
	char		msg[96];

	req.magic = 0x12345678;
	snprintf(msg, sizeof(msg), "request magic 0x12345678, expected 0x%08x", PI_EXEC_PROTOCOL_MAGIC);
	expect_fatal(&req, PI_ERR_CORRUPT, msg, "bad magic");
	req = make_request(PI_EXEC_LOAD, 1);
	req.payload_bytes = (int64_t) 1 << 41;
	expect_fatal(&req, PI_ERR_LIMIT, "payload of 2199023255552 bytes, expected at most", "payload above the limit");
	cut_load(false, sizeof(PiExecRequest) / 2, "exited with status 1", "command pipe closed inside a request");
	cut_load(false, sizeof(PiExecRequest) + 10, "exited with status 1", "command pipe closed inside a payload");
	group_end("broken streams: bad magic and oversized payload refused, then exit 1; a cut request or payload, exit 1");
}

/* End of file, QUIT, kill -9 between and during requests, a missing program. */
static void
test_lifecycle(void)
{
	Exec		e;
	PiExecRequest req = make_request(PI_EXEC_QUIT, 0);
	PiExecReply reply;
	int			rc;
	int			send_errno;
	siginfo_t	dead;

	if (exec_start(&e, "cpu", MAX_BATCH, NULL))
	{
		close(e.proc.command_fd);
		e.proc.command_fd = -1;
		check(pi_exec_receive(&e.proc, &reply) == 1, "end of file on commands: the reply pipe ends");
		exec_end_expect(&e, "exited with status 0", "end of file on commands");
	}
	if (exec_start(&e, "cpu", MAX_BATCH, NULL))
	{
		expect_status(&e, &req, NULL, PI_OK, "", "QUIT");
		check(pi_exec_receive(&e.proc, &reply) == 1, "QUIT: then end of file");
		exec_end_expect(&e, "exited with status 0", "QUIT");
	}
	if (exec_start(&e, "cpu", MAX_BATCH, NULL))
	{
		kill(e.proc.pid, SIGKILL);
		check(pi_exec_receive(&e.proc, &reply) == 1, "kill -9 between requests: receive sees end of file");
		/* its pipes are released by the time it is a zombie (not at the reply's end of file) */
		waitid(P_PID, (id_t) e.proc.pid, &dead, WEXITED | WNOWAIT);
		rc = pi_exec_send(&e.proc, &req, NULL);
		send_errno = errno;
		check(rc == -1 && send_errno == EPIPE, "kill -9 between requests: send returns %d (%s), expected EPIPE",
			  rc, strerror(send_errno));
		exec_end_expect(&e, "terminated by signal 9", "kill -9 between requests");
	}
	cut_load(true, sizeof(PiExecRequest) + 500, "terminated by signal 9", "kill -9 inside a LOAD");

	if (exec_start_file(&e, "/nonexistent/pg_infer_executor", "cpu", ARENA_BYTES, ARENA_BYTES, MAX_BATCH, NULL))
	{
		check(e.hello_rc == 1, "a missing program: spawn returns 0, receive sees end of file (%d)", e.hello_rc);
		exec_end_expect(&e, "exited with status 127", "a missing program");
	}
	group_end("end of file and QUIT exit 0; kill -9 between and inside requests; a missing program exits 127");
}

/* A HELLO that reports an error (status and message fragment), then exit 1. */
static void
expect_hello_error(Exec *e, PiStatus status, const char *fragment, const char *what)
{
	PiExecReply reply;

	check(e->hello_rc == 0 && e->hello.command == PI_EXEC_HELLO && e->hello.status == (int32_t) status &&
		  strstr(e->hello.message, fragment) != NULL,
		  "%s: HELLO receive %d, status %d (expected %d), message \"%s\"", what, e->hello_rc,
		  e->hello.status, status, e->hello.message);
	check(pi_exec_receive(&e->proc, &reply) == 1, "%s: then end of file", what);
	exec_end_expect(e, "exited with status 1", what);
}

/* "cuda": without a GPU a HELLO error; with one, model_mlp within 1e-5 of the CPU. */
static void
test_cuda(const char *dir)
{
	Exec		e;
	Fixture		f;
	PiExecReply reply;
	PiExecRequest quit = make_request(PI_EXEC_QUIT, 0);

	memset(&reply, 0, sizeof(reply));
	if (exec_start(&e, "cuda", MAX_BATCH, "./pg_infer_cuda.so"))
	{
		if (e.hello_rc == 0 && e.hello.status == PI_OK)
		{
			printf("   cuda: device \"%s\", %lld bytes\n", e.hello.device_name, (long long) e.hello.bytes);
			if (open_and_load(&e, dir, "model_mlp", 1, &f, &reply))
			{
				check(reply.bytes > 0 && reply.free_bytes > 0, "cuda LOAD: device bytes %lld, free %lld",
					  (long long) reply.bytes, (long long) reply.free_bytes);
				run_and_compare(&e, &f, 1, false, 1e-5);
			}
			fixture_close(&f);
			expect_status(&e, &quit, NULL, PI_OK, "", "cuda QUIT");
			exec_end_expect(&e, "exited with status 0", "cuda");
		}
		else
			expect_hello_error(&e, PI_ERR_DEVICE, "", "cuda with ./pg_infer_cuda.so");
	}
	if (exec_start(&e, "cuda", MAX_BATCH, "/nonexistent/pg_infer_cuda.so"))
		expect_hello_error(&e, PI_ERR_DEVICE, "could not load the CUDA device engine", "cuda with a missing library");
	group_end("device \"cuda\": a GPU's HELLO and model, or a HELLO error with a message and exit 1");
}

/*
 * "cuda" on the CPU stand-in of pg_infer_cuda.so (test/executor/fake_cuda.so):
 * the executor's cuda path without a GPU, then a sticky CUDA error that
 * PG_INFER_CUDA_FAULT puts into the second RUN, answered PI_ERR_DEVICE_LOST,
 * after which the executor exits with PI_EXEC_EXIT_DEVICE_LOST.
 */
static void
test_fake_cuda(const char *dir)
{
	Exec		e;
	Fixture		f;
	PiExecReply reply;
	PiExecRequest run;
	char		how[128];
	bool		started;

	setenv("PG_INFER_CUDA_FAULT", "cudaErrorIllegalAddress@2", 1);
	started = exec_start(&e, "cuda", MAX_BATCH, "test/executor/fake_cuda.so");
	unsetenv("PG_INFER_CUDA_FAULT");
	if (!started)
		return;
	check(e.hello_rc == 0 && e.hello.status == PI_OK &&
		  strcmp(e.hello.device_name, "fake CUDA device (CPU engine)") == 0,
		  "HELLO of the fake device: status %d, \"%s\"", e.hello.status, e.hello.message);
	if (e.hello.status == PI_OK && open_and_load(&e, dir, "model_mlp", 1, &f, &reply))
	{
		run_and_compare(&e, &f, 1, false, 1e-5);
		run = fixture_run_request(&e, &f, 1);
		expect_status(&e, &run, NULL, PI_ERR_DEVICE_LOST, "cudaErrorIllegalAddress; the GPU cannot be used again",
					  "a RUN with a sticky CUDA error");
		fixture_close(&f);
		/* having answered, it exits so that the worker starts a fresh one */
		exec_end_expect(&e, "exited with status 3", "after a sticky CUDA error");
	}
	else
		exec_end(&e, how, sizeof(how));
	group_end("device \"cuda\" on the CPU stand-in: a RUN, then a sticky CUDA error answered "
			  "PI_ERR_DEVICE_LOST, and the executor exits (status 3)");
}

/* Bad command lines and arenas: an error HELLO, then exit 1. */
static void
test_bad_starts(void)
{
	Exec		e;

	if (exec_start(&e, "tpu", MAX_BATCH, NULL))
		expect_hello_error(&e, PI_ERR_DEVICE, "unknown device \"tpu\"", "unknown device");
	if (exec_start(&e, "cpu", 0, NULL))
		expect_hello_error(&e, PI_ERR_INVALID, "MAX_BATCH is \"0\"", "MAX_BATCH 0");
	if (exec_start_file(&e, program, "cpu", ARENA_BYTES, 4096, MAX_BATCH, NULL))
		expect_hello_error(&e, PI_ERR_LIMIT, "the arena file has 4096 bytes, expected at least 67108864",
						   "arena file smaller than ARENA_BYTES");
	setenv(PI_EXEC_THREADS_ENV, "0", 1);
	if (exec_start(&e, "cpu", MAX_BATCH, NULL))
		expect_hello_error(&e, PI_ERR_INVALID, "PG_INFER_EXECUTOR_THREADS is \"0\", expected 1 to 64 threads",
						   "0 threads");
	unsetenv(PI_EXEC_THREADS_ENV);
	group_end("bad starts (device, MAX_BATCH, short arena, threads): HELLO error, exit 1");
}

/* The set bits of a "SigXxx:" line of /proc/PID/status; ~0 if absent. */
static unsigned long long
proc_signal_mask(pid_t pid, const char *field)
{
	char		path[64];
	char		line[256];
	unsigned long long mask = ~0ULL;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return mask;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			mask = strtoull(line + strlen(field), NULL, 16);
	fclose(f);
	return mask;
}

/*
 * What the executor inherits: descriptors 0-5 only (not one the parent
 * left open without CLOEXEC), no blocked signal, no ignored one but the
 * SIGPIPE it ignores itself.
 */
static void
test_inheritance(void)
{
	Exec		e;
	int			stray = open("/dev/null", O_RDONLY);
	struct sigaction ignore = {.sa_handler = SIG_IGN},
				old_usr1;
	sigset_t	usr2,
				old_mask;
	char		path[64];
	DIR		   *d;
	struct dirent *de;
	int			above = 0,
				protocol = 0;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigaction(SIGUSR1, &ignore, &old_usr1);
	sigprocmask(SIG_BLOCK, &usr2, &old_mask);
	if (exec_start(&e, "cpu", MAX_BATCH, NULL))
	{
		snprintf(path, sizeof(path), "/proc/%d/fd", (int) e.proc.pid);
		if ((d = opendir(path)) != NULL)
		{
			while ((de = readdir(d)) != NULL)
			{
				int			fd = atoi(de->d_name);

				above += fd > PI_EXEC_FD_ARENA;
				protocol += fd >= PI_EXEC_FD_COMMANDS && fd <= PI_EXEC_FD_ARENA;
			}
			closedir(d);
		}
		check(protocol == 3 && above == 0, "descriptors: %d of 3, 4, 5 open, %d above 5 (the parent's %d among them?)",
			  protocol, above, stray);
		check(proc_signal_mask(e.proc.pid, "SigBlk:") == 0, "no blocked signal (the parent blocks SIGUSR2)");
		check(proc_signal_mask(e.proc.pid, "SigIgn:") == 1ULL << (SIGPIPE - 1),
			  "only SIGPIPE ignored (the parent ignores SIGUSR1): SigIgn %llx",
			  proc_signal_mask(e.proc.pid, "SigIgn:"));
		exec_end_expect(&e, "exited with status 0", "inheritance");
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	close(stray);
	group_end("inherited: descriptors 3, 4, 5 only, empty signal mask, default handlers");
}

/*
 * The parent's death kills the executor (PR_SET_PDEATHSIG): a middle
 * process spawns it and exits while this one, the subreaper, holds the
 * command pipe open (so the executor does not just see end of file).
 */
static void
test_parent_death(void)
{
	int			report[2],
				go[2];
	pid_t		middle,
				executor = 0;
	int			command_fd = -1,
				held = -1,
				status = 0;
	char		path[64];

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe(report) != 0 || pipe(go) != 0 || (middle = fork()) < 0)
	{
		check(false, "middle process: %s", strerror(errno));
		group_end("the executor dies with its parent");
		return;
	}
	if (middle == 0)
	{
		Exec		e;
		char		c;

		if (exec_start(&e, "cpu", MAX_BATCH, NULL) && e.hello_rc == 0)
		{
			int			msg[2] = {(int) e.proc.pid, e.proc.command_fd};

			if (write(report[1], msg, sizeof(msg)) != sizeof(msg) || read(go[0], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	{
		int			msg[2];

		if (read(report[0], msg, sizeof(msg)) == sizeof(msg))
		{
			executor = msg[0];
			command_fd = msg[1];
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int) middle, command_fd);
			held = open(path, O_WRONLY | O_CLOEXEC);
		}
	}
	check(executor > 0 && held >= 0, "the middle process's executor %d, command pipe held: %s",
		  (int) executor, held >= 0 ? "yes" : strerror(errno));
	if (write(go[1], "x", 1) != 1 || waitpid(middle, &status, 0) != middle)
		check(false, "the middle process exits");
	if (executor > 0)
	{
		pid_t		r;

		do
			r = waitpid(executor, &status, 0);
		while (r < 0 && errno == EINTR);
		check(r == executor && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "the executor is killed by SIGKILL when its parent exits (waitpid %d, status 0x%x)", (int) r, status);
	}
	if (held >= 0)
		close(held);
	close(report[0]);
	close(report[1]);
	close(go[0]);
	close(go[1]);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	group_end("the executor dies with its parent (PR_SET_PDEATHSIG)");
}

int
main(int argc, char **argv)
{
	char		how[128];

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s PATH/pg_infer_executor FIXTURE_DIR\n", argv[0]);
		return 2;
	}
	program = argv[1];
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	/* as the worker does: a dead executor shows as EPIPE */
	signal(SIGPIPE, SIG_IGN);

	test_fixtures(argv[2]);
	test_resident(argv[2]);
	test_refusals(argv[2], 7, bad_runs,
				  "bad RUN requests (handle, rows, offsets, overflow, alignment, noutputs) refused, the executor goes on");
	test_refusals(argv[2], 8, bad_loads,
				  "bad LOAD requests (duplicate handle, no image, damaged images) refused, the model still runs");
	test_bad_requests(argv[2]);
	test_threads(argv[2]);
	test_threads_share_weights();
	exec_end(&threads_exec, how, sizeof(how));
	exec_end(&fixtures_exec, how, sizeof(how));
	test_activations(argv[2]);
	test_variants();
	test_broken_streams();
	test_lifecycle();
	test_cuda(argv[2]);
	test_fake_cuda(argv[2]);
	test_bad_starts();
	test_inheritance();
	test_parent_death();
	printf("executor: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
