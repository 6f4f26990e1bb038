# pg_infer: PostgreSQL extension for neural-network inference.
#
#   make && make install        build and install (PGXS)
#   make check-engine           standalone engine tests (no server)
#   make fuzz-smoke             run the model-file fuzzer's corpus driver
#   make fuzz-libfuzzer         build the same fuzz target for clang's libFuzzer
#   make check-cuda-build       build pg_infer_cuda.so and the GPU test programs, check its exports
#   make check-gpu-logic        the GPU path's logic on the CPU, no GPU (part of check-cuda-build)
#   make check-executor         the executor process (pg_infer_executor) through its pipes
#   make CUDA=0                 skip the CUDA device engine even where nvcc is found
#   test/run-tests.sh           everything, against a scratch server

EXTENSION = pg_infer
EXTVERSION = 0.1.0
MODULE_big = pg_infer
DATA = sql/pg_infer--$(EXTVERSION).sql
PGFILEDESC = "pg_infer - neural-network inference in PostgreSQL"

# The engine: plain C, no PostgreSQL headers (also built into test binaries).
ENGINE_SRCS = \
	src/format/safetensors.c src/format/graph_json.c src/format/options.c src/format/stored.c src/format/compact.c \
	src/ir/model.c src/ir/ops.c src/ir/attrs.c src/ir/shape.c src/ir/shape_window.c \
	src/ir/shape_reduce.c src/ir/shape_index.c src/ir/finalize.c src/ir/toposort.c src/ir/fuse.c src/ir/image.c \
	src/ir/quant.c \
	src/engine/exec.c src/engine/cpu.c src/engine/kernels_avx512.c src/engine/kernels_avx2.c \
	src/engine/kernels_generic.c src/engine/window.c src/engine/op_gemm.c src/engine/op_elementwise.c \
	src/engine/op_softmax.c src/engine/op_shape.c src/engine/op_conv.c src/engine/conv_winograd.c \
	src/engine/op_pool.c src/engine/op_norm.c src/engine/op_unary.c \
	src/engine/op_reduce.c src/engine/op_layernorm.c src/engine/op_slice.c src/engine/op_pad.c \
	src/engine/op_gather.c src/engine/op_topk.c src/engine/op_conv_transpose.c \
	src/engine/op_gemm_int8.c src/engine/int8_kernels.c src/engine/op_conv_int8.c \
	src/engine/int8_conv_kernels.c src/engine/weight_forms.c \
	src/engine/op_gemm_bf16.c src/engine/bf16_kernels.c

# Tabular models (op set 3): tree ensembles, scores, lookups, strings.
ENGINE_SRCS += src/ir/shape_tabular.c src/ir/strings.c src/engine/op_tree.c src/engine/op_tabular.c

# The ONNX importer (docs/onnx.md): part of the engine, plain C as well.
ONNX_SRCS = \
	src/format/onnx_wire.c src/format/onnx_proto.c src/format/onnx_tensor.c \
	src/format/onnx_const.c src/format/onnx_compact.c src/format/onnx_attrs.c src/format/onnx_fold.c \
	src/format/onnx_fold_math.c \
	src/format/onnx_convert.c src/format/onnx_convert_math.c \
	src/format/onnx_convert_window.c src/format/onnx_convert_shape.c \
	src/format/onnx_import.c src/format/onnx_lift.c src/format/onnx_lift_lower.c \
	src/format/onnx_lift_track.c src/format/onnx_external.c src/format/onnx_align.c \
	src/format/onnx_quant.c src/format/onnx_qoperator.c src/format/onnx_fuse_norm.c \
	src/format/onnx_fuse_bias.c
# ai.onnx.ml: tree ensembles, linear models, preprocessing, strings
ONNX_SRCS += src/format/onnx_convert_ml.c src/format/onnx_convert_encode.c \
	src/format/onnx_convert_tree.c src/format/onnx_strings.c
ENGINE_SRCS += $(ONNX_SRCS)

# The text tokenizer (include/pi_text.h): plain C over cJSON and ICU, used
# by the server only (the executor and the engine's tests go without ICU).
TEXT_SRCS = src/text/utf8.c src/text/unicode.c src/text/vocab.c src/text/merges.c \
	src/text/tokenizer_json.c src/text/bpe_json.c src/text/normalize.c src/text/bert_normalize.c \
	src/text/wordpiece.c src/text/byte_level.c src/text/bpe.c src/text/encode.c \
	src/text/text_options.c src/text/text_layout.c

# The server side: catalog, backend-local cache, SQL functions.
SERVER_SRCS = \
	src/pg_infer.c src/blas_loader.c src/errors.c src/progress.c \
	src/catalog/catalog.c src/catalog/lookup.c src/catalog/weights.c src/catalog/ownership.c \
	src/catalog/triggers.c \
	src/cache/model_cache.c src/cache/executors.c src/cache/shared_cache.c src/cache/drop_hook.c \
	src/cache/tokenizers.c src/sql/tokenize.c src/sql/embed.c \
	src/sql/create_model.c src/sql/large_object.c src/sql/admin.c src/sql/cache_admin.c src/sql/worker_admin.c \
	src/sql/features.c src/sql/named_inputs.c src/sql/predict.c src/sql/predict_inputs.c \
	src/sql/categories.c \
	src/exec/batch_planner.c src/exec/batch_scan.c src/exec/record_names.c src/exec/drop_guard.c \
	src/worker/worker_setup.c src/worker/worker_main.c src/worker/worker_executor.c \
	src/worker/worker_models.c src/worker/worker_requests.c src/worker/worker_schedule.c \
	src/worker/worker_run.c src/worker/client.c src/worker/forward.c

# Starting the executor process and talking to it: plain C that the server
# library calls (and the executor and its test link).
EXECUTOR_CLIENT_SRCS = src/executor/spawn.c src/executor/channel.c

# The executor process, pg_infer_executor (include/pi_executor_protocol.h):
# a program of its own over the engine, never a PostgreSQL backend.
EXECUTOR_SRCS = src/executor/main.c src/executor/commands.c src/executor/models.c \
	src/executor/activations.c src/executor/device.c src/executor/lanes.c src/executor/channel.c \
	$(CUDA_LOADER_SRCS)

# The plain-C parts of the CUDA device engine (no CUDA headers): its ABI
# report, the classes of CUDA errors and fault injection, the CUDA graph
# buckets, which nodes run in int8 and their weights as uploaded.  Also
# built into its CPU stand-in (test/executor/fake_cuda.so) and the unit test
# (test/gpu/test_gpu_logic), which need no nvcc.
CUDA_PLAIN_SRCS = src/cuda/abi.c src/cuda/faults.c src/cuda/graph_cache.c src/cuda/int8_plan.c

# What the program that opens pg_infer_cuda.so runs around dlopen
# (include/pi_cuda_loader.h): finding and loading CUDA's libraries, checking
# the library's struct layout.  Plain C.
CUDA_LOADER_SRCS = src/cuda/loader_libs.c src/cuda/loader_layout.c

OBJS = $(ENGINE_SRCS:.c=.o) $(TEXT_SRCS:.c=.o) $(SERVER_SRCS:.c=.o) $(EXECUTOR_CLIENT_SRCS:.c=.o)

REGRESS = setup create_model large_objects validation predict batching admin cache
REGRESS_OPTS = --inputdir=. --load-extension=pg_infer

# OpenBLAS: the server opens it at run time (src/blas_loader.c) with one
# thread; the standalone test programs link its sequential build.
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_INCDIR ?= /usr/include/$(MULTIARCH)/openblas-serial
BLAS_LIBDIR ?= /usr/lib/$(MULTIARCH)/openblas-serial
BLAS_CFLAGS = -I$(BLAS_INCDIR)
BLAS_LIBS = -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas

PG_CPPFLAGS = -I$(srcdir)/include $(BLAS_CFLAGS)
PG_CFLAGS = -std=gnu11 -Wno-declaration-after-statement
SHLIB_LINK = -lcjson -licuuc -ldl -lm

# No LLVM bitcode: the JIT has nothing to inline from an inference kernel.
override with_llvm = no

# Test programs (PGXS reads EXTRA_CLEAN when it is included, so it comes first).
EXTRA_CLEAN = test/fuzz/fuzz_onnx test/fuzz/fuzz_onnx_libfuzzer test/onnx/test_onnx_mnist \
	test/onnx/conformance test/onnx/test_onnx_reject test/engine/test_engine test/engine/test_int8 test/engine/test_int8_conv test/engine/test_quantize test/engine/test_precision \
	test/fuzz/fuzz_model test/fuzz/fuzz_model_libfuzzer pg_infer_executor test/executor/test_executor \
	test/bench/bench_engine test/executor/fake_cuda.so test/text/test_tokenizer \
	test/bench/bench_tokenizer

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The kernels' loops vectorize at -O3.
$(ENGINE_SRCS:.c=.o): CFLAGS += -O3

# Every object is rebuilt when a header changes (structs are shared).
$(OBJS): $(wildcard include/*.h src/ir/*.h src/worker/*.h src/catalog/*.h src/engine/*.h)

ENGINE_TEST_CFLAGS = -std=gnu11 -O3 -g -Wall -Wextra -Wno-unused-parameter -Iinclude -Itest/common $(BLAS_CFLAGS)

# What the test programs share: reading files and fixtures; the MNIST test set (zlib).
TEST_COMMON = test/common/test_files.c
TEST_MNIST = test/common/test_mnist.c
# The counted "ok:"/"FAIL:" checks of test_engine, test_gpu and test_gpu_logic.
TEST_CHECK = test/common/test_check.c
# Rows through a model, a failed check when they cannot run (the engine's tests).
TEST_RUN = test/common/test_run.c
# The fuzz builds' sanitizer defaults and the drivers' pseudo-random numbers.
FUZZ_COMMON = test/fuzz/fuzz_common.c

test/engine/test_engine: test/engine/test_engine.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/engine/test_engine.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

test/engine/test_precision: test/engine/test_precision.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/engine/test_precision.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) -lcjson -lz $(BLAS_LIBS) -lm

test/engine/test_int8_conv: test/engine/test_int8_conv.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/engine/test_int8_conv.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

test/engine/test_quantize: test/engine/test_quantize.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/engine/test_quantize.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

test/engine/test_int8: test/engine/test_int8.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/engine/test_int8.c $(TEST_CHECK) $(TEST_RUN) $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) -lcjson -lz $(BLAS_LIBS) -lm

test/fuzz/fuzz_model: test/fuzz/fuzz_model.c test/fuzz/driver.c test/fuzz/driver_common.c $(FUZZ_COMMON) test/fuzz/fuzz_common.h test/fuzz/driver_common.h test/fuzz/fuzz_model.h $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o $@ test/fuzz/fuzz_model.c test/fuzz/driver.c test/fuzz/driver_common.c $(FUZZ_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

# The same target under clang's libFuzzer (coverage-guided), without driver.c:
#   mkdir -p /tmp/units && test/fuzz/fuzz_model_libfuzzer -dict=test/fuzz/fuzz_model.dict \
#       -max_total_time=300 -timeout=20 /tmp/units test/fuzz/corpus
# (new units go to the first directory, crashes to ./crash-*).
FUZZ_CLANG ?= clang
test/fuzz/fuzz_model_libfuzzer: test/fuzz/fuzz_model.c $(FUZZ_COMMON) test/fuzz/fuzz_model.h $(ENGINE_SRCS) include/*.h
	$(FUZZ_CLANG) $(ENGINE_TEST_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ test/fuzz/fuzz_model.c $(FUZZ_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

# The ONNX importer's fuzz target (test/fuzz/fuzz_onnx.c), with its own
# structure-aware driver; corpus from test/fuzz/make_onnx_corpus.py.
test/fuzz/fuzz_onnx: test/fuzz/fuzz_onnx.c test/fuzz/driver_onnx.c test/fuzz/driver_common.c $(FUZZ_COMMON) test/fuzz/fuzz_common.h test/fuzz/driver_common.h test/fuzz/fuzz_onnx.h $(ENGINE_SRCS) include/*.h src/format/onnx_*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o $@ test/fuzz/fuzz_onnx.c test/fuzz/driver_onnx.c test/fuzz/driver_common.c $(FUZZ_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

test/fuzz/fuzz_onnx_libfuzzer: test/fuzz/fuzz_onnx.c $(FUZZ_COMMON) test/fuzz/fuzz_onnx.h $(ENGINE_SRCS) include/*.h src/format/onnx_*.h
	$(FUZZ_CLANG) $(ENGINE_TEST_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ test/fuzz/fuzz_onnx.c $(FUZZ_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

fuzz-libfuzzer: test/fuzz/fuzz_model_libfuzzer test/fuzz/fuzz_onnx_libfuzzer

# The executor links the engine's objects as PGXS built them (-O3, -fPIC)
# and the sequential OpenBLAS, as the test programs do.
EXECUTOR_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -Iinclude $(BLAS_CFLAGS)

all: pg_infer_executor

pg_infer_executor: $(EXECUTOR_SRCS) $(ENGINE_SRCS:.c=.o) include/*.h src/executor/*.h
	$(CC) $(EXECUTOR_CFLAGS) -o $@ $(EXECUTOR_SRCS) $(ENGINE_SRCS:.c=.o) -lcjson $(BLAS_LIBS) -ldl -lpthread -lm

test/executor/test_executor: test/executor/test_executor.c $(TEST_COMMON) $(EXECUTOR_CLIENT_SRCS) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/executor/test_executor.c $(TEST_COMMON) $(EXECUTOR_CLIENT_SRCS) \
		$(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

# A CPU stand-in for pg_infer_cuda.so (the CPU engine behind include/pi_cuda.h,
# failing runs as PG_INFER_CUDA_FAULT asks): the executor's cuda path without a GPU.
test/executor/fake_cuda.so: test/executor/fake_cuda.c $(CUDA_PLAIN_SRCS) build/cuda/libpi_engine.a src/cuda/exports.map include/*.h src/cuda/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -fPIC -shared -Wl,--version-script=src/cuda/exports.map -Wl,-z,defs -o $@ \
		test/executor/fake_cuda.c $(CUDA_PLAIN_SRCS) build/cuda/libpi_engine.a -lcjson $(BLAS_LIBS) -lm

check-executor: pg_infer_executor test/executor/test_executor test/executor/fake_cuda.so
	test/executor/test_executor ./pg_infer_executor test/fixtures

# ONNX import tests (docs/onnx.md).  SHARED_DIR holds the third-party
# model and MNIST data; ONNX_TESTDATA is Debian's libonnx-testdata.
SHARED_DIR ?= ../shared
test/onnx/test_onnx_mnist: test/onnx/test_onnx_mnist.c $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) include/*.h src/format/onnx_*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/onnx/test_onnx_mnist.c $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) -lcjson -lz $(BLAS_LIBS) -lm

test/onnx/conformance: test/onnx/conformance.c $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/format/onnx_*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -Isrc/format -o $@ test/onnx/conformance.c $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

test/onnx/test_onnx_reject: test/onnx/test_onnx_reject.c $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/format/onnx_*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/onnx/test_onnx_reject.c $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

ONNX_TESTDATA ?= /usr/share/libonnx-testdata/data
ONNX_TEST_ROOTS = $(ONNX_TESTDATA)/node $(ONNX_TESTDATA)/pytorch-converted \
	$(ONNX_TESTDATA)/pytorch-operator $(ONNX_TESTDATA)/simple \
	test/onnx/cases $(wildcard test/onnx/models) test/onnx/ml-node test/onnx/ml-cases

# MNIST counts of the quantized LeNets: ONNX Runtime's (make_quant_models.py prints
# them), but 9815 for uint8 weights, which the int8 Gemms quantize again (ORT: 9813); and
# the float32 LeNet at precision int8 (Convs and Gemms int8), every int8 path alike: 9812
MNIST_TEST_SET = $(SHARED_DIR)/data/mnist/t10k-images-idx3-ubyte.gz $(SHARED_DIR)/data/mnist/t10k-labels-idx1-ubyte.gz
check-onnx: test/onnx/test_onnx_mnist test/onnx/conformance test/onnx/test_onnx_reject
	test/onnx/test_onnx_reject test/onnx/ml-malformed test/onnx/quant-malformed test/onnx/stored-malformed
	test/onnx/conformance test/onnx/conformance-expected.txt $(ONNX_TEST_ROOTS)
	test/onnx/conformance --tolerance 1e-5 test/onnx/tabular-expected.txt test/onnx/tabular
	test/onnx/test_onnx_mnist $(SHARED_DIR)/models/mnist_cnn_pytorch.onnx $(MNIST_TEST_SET)
	test/onnx/conformance test/onnx/quant-expected.txt test/onnx/quant
	PG_INFER_CPU=generic test/onnx/conformance test/onnx/quant-expected.txt test/onnx/quant
	test/onnx/test_onnx_mnist test/onnx/quant/lenet_qdq_channel/model.onnx $(MNIST_TEST_SET) 9813
	test/onnx/test_onnx_mnist test/onnx/quant/lenet_qdq_tensor_s8/model.onnx $(MNIST_TEST_SET) 9810
	test/onnx/test_onnx_mnist test/onnx/quant/lenet_qdq_uint8_weights/model.onnx $(MNIST_TEST_SET) 9815
	test/onnx/test_onnx_mnist test/onnx/quant/lenet_qoperator/model.onnx $(MNIST_TEST_SET) 9813
	test/onnx/test_onnx_mnist test/onnx/quant/lenet_dynamic/model.onnx $(MNIST_TEST_SET) 9813
	PG_INFER_CPU=generic test/onnx/test_onnx_mnist $(SHARED_DIR)/models/mnist_cnn_pytorch.onnx $(MNIST_TEST_SET) \
		9812 '{"precision": "int8"}'
	PG_INFER_CPU=avx512 test/onnx/test_onnx_mnist $(SHARED_DIR)/models/mnist_cnn_pytorch.onnx $(MNIST_TEST_SET) \
		9812 '{"precision": "int8"}'

# Every path of the CPU kernels (src/engine/cpu.c), as far as this CPU has it,
# and of the int8 kernels (src/engine/int8_kernels.c: avx512 runs VNNI).
INT8_TEST_ARGS = test/fixtures models/mnist $(SHARED_DIR)/data/mnist/t10k-images-idx3-ubyte.gz \
	$(SHARED_DIR)/data/mnist/t10k-labels-idx1-ubyte.gz
PRECISION_TEST_ARGS = models/mnist $(SHARED_DIR)/data/mnist/t10k-images-idx3-ubyte.gz \
	$(SHARED_DIR)/data/mnist/t10k-labels-idx1-ubyte.gz test/fixtures \
	$(SHARED_DIR)/models/mnist_cnn_pytorch.onnx test/bench/models/resnet_cifar.onnx
check-engine: test/engine/test_engine test/engine/test_int8 test/engine/test_int8_conv test/engine/test_quantize \
		test/engine/test_precision
	PG_INFER_CPU=generic test/engine/test_engine test/fixtures
	PG_INFER_CPU=avx2 test/engine/test_engine test/fixtures
	PG_INFER_CPU=avx512 test/engine/test_engine test/fixtures
	PG_INFER_CPU=generic test/engine/test_int8 $(INT8_TEST_ARGS)
	PG_INFER_CPU=avx512 test/engine/test_int8 $(INT8_TEST_ARGS)
	PG_INFER_CPU=generic test/engine/test_int8_conv
	PG_INFER_CPU=avx2 test/engine/test_int8_conv
	PG_INFER_CPU=avx512 test/engine/test_int8_conv
	PG_INFER_CPU=generic test/engine/test_quantize
	PG_INFER_CPU=avx2 test/engine/test_quantize
	PG_INFER_CPU=avx512 test/engine/test_quantize
	PG_INFER_CPU=avx2 test/engine/test_precision $(PRECISION_TEST_ARGS)
	PG_INFER_CPU=avx512 test/engine/test_precision $(PRECISION_TEST_ARGS)

# The tokenizer under ASan and UBSan: unit tests, then ids and words against
# HuggingFace tokenizers (test/text/check_exact.py, pip package tokenizers).
test/text/test_tokenizer: test/text/test_tokenizer.c $(TEST_COMMON) $(TEXT_SRCS) $(ENGINE_SRCS) include/*.h src/text/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o $@ test/text/test_tokenizer.c $(TEST_COMMON) $(TEXT_SRCS) $(ENGINE_SRCS) \
		-lcjson -licuuc $(BLAS_LIBS) -lm

check-text: test/text/test_tokenizer
	test/text/test_tokenizer
	python3 test/text/check_exact.py test/text/test_tokenizer $(PI_TEXT_TOKENIZERS)

# The engine's throughput on an ONNX file, for test/bench/engine_vs_ort.py and tabular.py.
test/bench/bench_engine: test/bench/bench_engine.c $(TEST_COMMON) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/bench/bench_engine.c $(TEST_COMMON) $(ENGINE_SRCS) -lcjson $(BLAS_LIBS) -lm

# One convolution or fully connected layer through oneDNN (libdnnl-dev), for
# test/bench/onednn_layers.py; not part of the extension or of CI.
test/bench/onednn_layers: test/bench/onednn_layers.c
	$(CC) -std=gnu11 -O2 -Wall -Wextra -o $@ test/bench/onednn_layers.c -ldnnl

# The tokenizer's speed on a text file, for test/bench/text_bpe.py.
test/bench/bench_tokenizer: test/bench/bench_tokenizer.c $(TEST_COMMON) $(TEXT_SRCS) $(ENGINE_SRCS) include/*.h src/text/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/bench/bench_tokenizer.c $(TEST_COMMON) $(TEXT_SRCS) \
		$(ENGINE_SRCS) -lcjson -licuuc $(BLAS_LIBS) -lm

fuzz-smoke: test/fuzz/fuzz_model test/fuzz/fuzz_onnx
	test/fuzz/fuzz_model test/fuzz/corpus 100000
	test/fuzz/fuzz_onnx test/fuzz/corpus_onnx 30000

# The engine's objects as an archive, for the shared objects and tests that
# carry their own copy of the parts they call.
build/cuda/libpi_engine.a: $(ENGINE_SRCS:.c=.o)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The plain-C logic of the GPU path on the CPU (no GPU, no nvcc), the shell
# search for CUDA's libraries against the C one over fake trees, and
# test_gpu's checks over the CPU stand-in of pg_infer_cuda.so.
test/gpu/test_gpu_logic: test/gpu/test_gpu_logic.c test/gpu/int8_cases.c $(TEST_CHECK) $(CUDA_PLAIN_SRCS) $(CUDA_LOADER_SRCS) build/cuda/libpi_engine.a include/*.h src/cuda/*.h test/gpu/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/gpu/test_gpu_logic.c test/gpu/int8_cases.c $(TEST_CHECK) $(CUDA_PLAIN_SRCS) $(CUDA_LOADER_SRCS) \
		build/cuda/libpi_engine.a -lcjson $(BLAS_LIBS) -ldl -lm

# test_gpu itself, over the CPU stand-in of the library (its checks' logic, no GPU)
test/gpu/test_gpu_fake: test/gpu/test_gpu.c test/gpu/int8_cases.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) test/executor/fake_cuda.so build/cuda/libpi_engine.a include/*.h test/gpu/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/gpu/test_gpu.c test/gpu/int8_cases.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) build/cuda/libpi_engine.a \
		test/executor/fake_cuda.so -Wl,-rpath,'$$ORIGIN/../executor' -lcjson -lz $(BLAS_LIBS) -lm

check-gpu-logic: test/gpu/test_gpu_logic test/gpu/test_gpu_fake
	test/gpu/test_gpu_logic
	test/gpu/test-find-cuda-libs.sh test/gpu/test_gpu_logic
	test/gpu/test_gpu_fake test/fixtures $(SHARED_DIR)/models/mnist_cnn_pytorch.onnx \
		$(SHARED_DIR)/data/mnist/t10k-images-idx3-ubyte.gz $(SHARED_DIR)/data/mnist/t10k-labels-idx1-ubyte.gz models/mnist \
		> test/gpu/test_gpu_fake.log || { grep -v '^ok' test/gpu/test_gpu_fake.log; exit 1; }
	tail -1 test/gpu/test_gpu_fake.log

# The CUDA device engine (docs/gpu.md): pg_infer_cuda.so, its own shared
# object that the process owning the GPU loads with dlopen; never linked into
# pg_infer.so.  Built when nvcc is found, skipped with CUDA=0.  It carries
# its own copy of the IR helpers it calls (pulled from an archive of the
# engine's objects) and exports only pi_cuda_* (src/cuda/exports.map).
CUDA_HOME ?= /usr/local/cuda
ifndef NVCC
NVCC := $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard $(CUDA_HOME)/bin/nvcc))
endif
ifeq ($(NVCC),)
CUDA ?= 0
else
CUDA ?= 1
endif
# sm_90 (H100, H200) machine code plus PTX that newer GPUs compile at load
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
CUDA_LIBDIR ?= $(CUDA_HOME)/lib64
CUDA_HOST_SRCS = src/cuda/context.c src/cuda/model.c src/cuda/executor.c src/cuda/run.c \
	src/cuda/dispatch.c src/cuda/gemm.c src/cuda/gemm_int8.c src/cuda/conv.c $(CUDA_PLAIN_SRCS)
CUDA_KERNEL_SRCS = src/cuda/kernels_elementwise.cu src/cuda/kernels_conv.cu \
	src/cuda/kernels_gemm.cu src/cuda/kernels_pool.cu src/cuda/kernels_shape.cu \
	src/cuda/kernels_reduce.cu src/cuda/kernels_fault.cu src/cuda/kernels_int8.cu
CUDA_OBJS = $(CUDA_HOST_SRCS:%.c=build/cuda/%.o) $(CUDA_KERNEL_SRCS:%.cu=build/cuda/%.o)
CUDA_HEADERS = include/*.h src/cuda/*.h src/cuda/*.cuh src/engine/cpu.h src/engine/int8.h
# no FMA contraction: elementwise results round as the CPU engine's do;
# -lineinfo: compute-sanitizer names the source lines of a kernel's fault
NVCC_FLAGS = -std=c++17 -O3 -fmad=false -lineinfo $(CUDA_ARCH) -Xcompiler -fPIC,-Wall -Iinclude
CUDA_HOST_CFLAGS = -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Wno-unused-parameter -Iinclude -I$(CUDA_HOME)/include
# test programs find pg_infer_cuda.so beside them or at the repository root
CUDA_TEST_LINK = pg_infer_cuda.so -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../..'

ifeq ($(CUDA),1)
all: pg_infer_cuda.so

build/cuda/%.o: %.c $(CUDA_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CUDA_HOST_CFLAGS) -c -o $@ $<

build/cuda/%.o: %.cu $(CUDA_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c -o $@ $<

pg_infer_cuda.so: $(CUDA_OBJS) build/cuda/libpi_engine.a src/cuda/exports.map
	$(CC) -shared -Wl,-soname,pg_infer_cuda.so -Wl,--version-script=src/cuda/exports.map \
		-Wl,-z,defs -o $@ $(CUDA_OBJS) build/cuda/libpi_engine.a \
		-L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublasLt -lcublas -lcudart -lstdc++ -lm

# GPU against CPU on every fixture, and the shared MNIST CNN (test/gpu/run-device.sh)
test/gpu/test_gpu: test/gpu/test_gpu.c test/gpu/int8_cases.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) pg_infer_cuda.so $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h test/gpu/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -o $@ test/gpu/test_gpu.c test/gpu/int8_cases.c $(TEST_CHECK) $(TEST_COMMON) $(TEST_MNIST) $(ENGINE_SRCS) $(CUDA_TEST_LINK) \
		-lcjson -lz $(BLAS_LIBS) -lm

# the 784-512-256-10 MLP on the GPU against the pinned H2D roofline
test/gpu/bench_gpu: test/gpu/bench_gpu.c pg_infer_cuda.so $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -I$(CUDA_HOME)/include -o $@ test/gpu/bench_gpu.c $(ENGINE_SRCS) \
		$(CUDA_TEST_LINK) -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudart -lcjson $(BLAS_LIBS) -lm

# dlopen of the library into a program that exports the engine, as the server does
test/gpu/test_load: test/gpu/test_load.c $(CUDA_LOADER_SRCS) $(ENGINE_SRCS) include/*.h src/ir/*.h src/engine/*.h
	$(CC) $(ENGINE_TEST_CFLAGS) -rdynamic -o $@ test/gpu/test_load.c $(CUDA_LOADER_SRCS) $(ENGINE_SRCS) -lcjson -ldl -lm

# runs without a GPU (CI): builds everything, checks the exports and a dlopen
check-cuda-build: pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load check-gpu-logic
	test/gpu/check-exports.sh pg_infer_cuda.so include/pi_cuda.h
	test/gpu/test_load ./pg_infer_cuda.so
else
check-cuda-build:
	@echo "check-cuda-build: nvcc not found (or CUDA=0): the CUDA device engine is not built" >&2
	@exit 1
endif

# Installed beside pg_infer.so, where the inference worker looks for them.
install: install-executor
install-executor: pg_infer_executor $(if $(filter 1,$(CUDA)),pg_infer_cuda.so)
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) pg_infer_executor '$(DESTDIR)$(pkglibdir)/pg_infer_executor'
ifeq ($(CUDA),1)
	$(INSTALL_SHLIB) pg_infer_cuda.so '$(DESTDIR)$(pkglibdir)/pg_infer_cuda.so'
endif

uninstall: uninstall-executor
uninstall-executor:
	rm -f '$(DESTDIR)$(pkglibdir)/pg_infer_executor' '$(DESTDIR)$(pkglibdir)/pg_infer_cuda.so'

clean: clean-cuda
clean-cuda:
	rm -rf build/cuda pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load \
		test/gpu/test_gpu_logic test/gpu/test_gpu_fake test/gpu/test_gpu_fake.log

.PHONY: check-engine check-text check-executor check-onnx check-cuda-build check-gpu-logic clean-cuda fuzz-smoke fuzz-libfuzzer \
	install-executor uninstall-executor
