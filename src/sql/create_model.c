/*
 * create_model.c
 *	  create_model() ("CREATE MODEL") from a native graph and weights or
 *	  from an ONNX file passed as values or as large objects, and
 *	  create_model_from_files() and create_model_from_onnx_file() from files
 *	  on the server.
 *
 *	  Memory: the bytes are held once.  The importers use float32 weights
 *	  where they lie in those bytes (an ONNX file's unaligned tensors are
 *	  moved a few bytes within a buffer of this call's own, and moved back
 *	  before storing), the model is freed once described, and the bytes are
 *	  stored in chunks straight from where they are.  A native model of
 *	  precision int8, bf16 or fp16 is the exception: its safetensors are
 *	  rewritten with those weights reduced (src/format/compact.c), a second,
 *	  smaller copy, which is what is stored; likewise an ONNX model of
 *	  precision int8 (src/format/onnx_compact.c, imported once more for it).
 */
#include "pg_infer.h"

#include "pi_onnx.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* Raises unless a name is usable as a model name. */
static void
check_model_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > PG_INFER_MAX_MODEL_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("model name must be 1 to %d bytes long, got %zu", PG_INFER_MAX_MODEL_NAME, len)));
}

/* Raises when a required argument is NULL. */
static void
require_arg(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
}

/*
 * The text of a JSON argument declared jsonb (or text, for the graph of the
 * create_model overload that takes JSON as text), or "{}" when NULL.
 */
static char *
jsonb_arg_text(FunctionCallInfo fcinfo, int arg)
{
	Jsonb	   *jb;

	if (PG_ARGISNULL(arg))
		return pstrdup("{}");
	if (get_fn_expr_argtype(fcinfo->flinfo, arg) == TEXTOID)
		return text_to_cstring(PG_GETARG_TEXT_PP(arg));
	jb = PG_GETARG_JSONB_P(arg);
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* Starts a create_model of name in its first phase (pginfer.progress). */
static void
begin_create(const char *name, const char *phase)
{
	check_model_name(name);
	progress_start(PROGRESS_CREATE_MODEL, name, phase);
}

/*
 * Raises unless a text model's tokenizer (tokenizer.json text, or NULL for a
 * model without one) parses and its options fit it; returns its option
 * max_seq_length (0 when absent).
 */
static int
check_text_model(const char *name, const char *tokenizer_json, const char *options)
{
	PiTokenizer *tok;
	PiError		err = {0};
	PiTextOptions opt;
	int			specials;

	if (pi_text_options_parse(options, strlen(options), &opt, &err) != PI_OK)
		pg_infer_report(&err, name);
	if (tokenizer_json == NULL)
	{
		if (opt.given)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\": options \"max_seq_length\", \"pooling\" and \"normalize\" need a tokenizer", name),
					 errhint("Pass the model's tokenizer.json as create_model's tokenizer.")));
		return 0;
	}
	if (pi_tokenizer_parse(tokenizer_json, strlen(tokenizer_json), &tok, &err) != PI_OK)
		ereport(ERROR,
				(errcode(pg_infer_status_errcode(err.status)),
				 errmsg("model \"%s\": tokenizer: %s", name, err.message),
				 errdetail("The tokenizer must be a HuggingFace tokenizer.json of a WordPiece (BERT-style) model.")));
	specials = pi_tokenizer_special_count(tok);
	pi_tokenizer_free(tok);
	if (opt.max_length > 0 && opt.max_length <= specials)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\": option \"max_seq_length\" is %d, which leaves no room for text after the tokenizer's %d special tokens",
						name, opt.max_length, specials)));
	return opt.max_length;
}

/*
 * Raises unless an imported text model takes token ids and returns token
 * vectors (pi_text_layout), and its max_seq_length fits its sequence length.
 */
static void
check_text_network(const char *name, const PiModel *model, const char *options)
{
	PiTextLayout layout;
	PiTextOptions opt;
	PiError		err = {0};

	if (pi_text_options_parse(options, strlen(options), &opt, &err) != PI_OK ||
		pi_text_layout(model, &layout, &err) != PI_OK)
		pg_infer_report(&err, name);
	if (opt.max_length > layout.length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\": option \"max_seq_length\" is %d, the network takes %lld ids per row",
						name, opt.max_length, (long long) layout.length)));
}

/*
 * The weights that a native model's version keeps at its precision
 * (pi_safetensors_reduce: int8 codes, bf16 or fp16 for the matrices of its
 * Dense, Gemm and MatMul layers) in blob, palloc'd; blob is left as it is
 * for a float32 model.
 */
static PiStatus
reduce_weights(const char *graph, const char *options, const PiModel *model, StoredBlob *blob,
			   PiError *err)
{
	PiWeightForm *forms;
	uint8_t    *bytes = NULL;
	size_t		len = 0;
	PiStatus	st;
	uint8	   *copy;

	if (model->precision == PI_PRECISION_FP32)
		return PI_OK;
	progress_phase("reducing weights");
	if ((forms = pi_model_weight_forms(model)) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	st = pi_safetensors_reduce(graph, strlen(graph), blob->parts[0], blob->lens[0], options,
							   strlen(options), model, forms, &bytes, &len, err);
	free(forms);
	if (st != PI_OK)
		return st;
	copy = palloc_extended(Max(len, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (copy != NULL)
		memcpy(copy, bytes, len);
	free(bytes);
	if (copy == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	blob->parts[0] = copy;
	blob->lens[0] = len;
	return PI_OK;
}

/*
 * Applies a model's options and describes it for the catalog (a symbolic
 * sequence dimension of at most sequence_length as such); for a native
 * model (graph, and reduce, its safetensors blob) makes the blob keep its
 * weights at its precision; then frees the model and, where its import moved tensors
 * within onnx, puts them back (the file is stored as it was given); raises
 * the options' error, and for a text model (text) what keeps it from being
 * one.
 */
static void
describe_and_release(const char *name, PiModel *model, const char *const *input_dtypes,
					 int64 sequence_length, const char *options, bool text, uint8 *onnx,
					 PiOnnxMoves *moves, const char *graph, StoredBlob *reduce,
					 ModelDescription *desc)
{
	PiError		err = {0};
	volatile PiStatus st = PI_OK;

	PG_TRY();
	{
		st = pi_model_apply_options(model, options, strlen(options), &err);
		if (st == PI_OK && text)
			check_text_network(name, model, options);
		if (st == PI_OK && reduce != NULL)
			st = reduce_weights(graph, options, model, reduce, &err);
		if (st == PI_OK)
		{
			catalog_describe_model(model, input_dtypes, sequence_length, desc);
			desc->precision = model->precision;
		}
	}
	PG_FINALLY();
	{
		pi_model_free(model);
		if (moves != NULL)
			pi_onnx_moves_undo(onnx, moves);
	}
	PG_END_TRY();
	if (st != PI_OK)
		pg_infer_report(&err, name);
}

/*
 * Stores a validated model's blob, and a text model's tokenizer (or NULL),
 * as the next version of name; returns the version.
 */
static int32
store_version(const char *name, const char *graph, const ModelDescription *desc,
			  const StoredBlob *blob, const char *options, const char *description,
			  const char *tokenizer_json)
{
	progress_phase("storing");
	return catalog_add_version(name, graph, options, description, desc, blob, tokenizer_json);
}

/*
 * Validates a native model (parse, shapes, options) and stores it; returns
 * its version.  The model is built over the weights where they lie.
 */
static int32
validate_and_store(const char *name, const char *graph, const uint8 *weights,
				   int64 weight_bytes, const char *options, const char *description)
{
	PiModel    *model = NULL;
	PiError		err = {0};
	PiStatus	st;
	ModelDescription desc;
	StoredBlob	blob = {{weights, NULL}, {weight_bytes, 0}};

	check_text_model(name, NULL, options);
	progress_phase("validating");
	do
		st = pi_model_load_in_place(graph, strlen(graph), weights, weight_bytes, &model, &err);
	while (pg_infer_retry_after_interrupt(st));
	if (st != PI_OK)
		pg_infer_report(&err, name);
	describe_and_release(name, model, NULL, 0, options, false, NULL, NULL, graph, &blob, &desc);
	return store_version(name, graph, &desc, &blob, options, description, NULL);
}

/*
 * Makes blob (an ONNX file and its external data, imported at
 * sequence_length) keep an int8 model's weights as int8 codes
 * (pi_onnx_reduce), its file part palloc'd; left as it is where no weight
 * is reduced.
 */
static void
reduce_onnx(const char *name, int64 sequence_length, const char *options, StoredBlob *blob)
{
	PiModel    *model = NULL;
	PiWeightForm *forms = NULL;
	uint8_t    *bytes = NULL;
	size_t		len = 0;
	PiError		err = {0};
	PiStatus	st;
	uint8	   *copy;

	progress_phase("reducing weights");
	do
		st = pi_onnx_load_at_length(blob->parts[0], blob->lens[0], blob->parts[1], blob->lens[1], NULL,
									sequence_length, &model, NULL, &err);
	while (pg_infer_retry_after_interrupt(st));
	if (st == PI_OK)
		st = pi_model_apply_options(model, options, strlen(options), &err);
	if (st == PI_OK && (forms = pi_model_weight_forms(model)) == NULL)
		st = pi_fail(&err, PI_ERR_NOMEM, "out of memory");
	if (st == PI_OK)
		st = pi_onnx_reduce(blob->parts[0], blob->lens[0], blob->parts[1], blob->lens[1], sequence_length,
							options, strlen(options), model, forms, &bytes, &len, &err);
	free(forms);
	pi_model_free(model);
	if (st != PI_OK)
		pg_infer_report(&err, name);
	if (bytes == NULL)
		return;
	copy = palloc_extended(Max(len, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (copy != NULL)
		memcpy(copy, bytes, len);
	free(bytes);
	if (copy == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	blob->parts[0] = copy;
	blob->lens[0] = len;
}

/*
 * Imports an ONNX file (with its external data, or NULL), applies the
 * options and stores the file, and a text model's tokenizer (or NULL), as
 * the next version; returns the version.
 * The import uses the weights where they lie; when onnx is writable, it
 * moves unaligned tensors within the file rather than copy them, and they
 * are put back before the file is stored.
 */
static int32
import_and_store(const char *name, uint8 *onnx, int64 onnx_len, bool writable,
				 const uint8 *external, int64 external_len,
				 const char *options, const char *description, const char *tokenizer_json)
{
	PiModel    *model = NULL;
	PiOnnxInfo	info;
	PiOnnxMoves moves = {0};
	const char *dtypes[PI_MAX_MODEL_IO];
	PiError		err = {0};
	PiStatus	st;
	ModelDescription desc;
	StoredBlob	blob = {{onnx, external}, {onnx_len, external_len}};
	char	   *descriptor;
	char	   *stored;
	int			max_length;

	max_length = check_text_model(name, tokenizer_json, options);
	progress_phase("importing ONNX");
	do
		st = pi_onnx_load_at_length(onnx, onnx_len, external, external_len,
									writable ? &moves : NULL, max_length, &model, &info, &err);
	while (pg_infer_retry_after_interrupt(st));
	if (st != PI_OK && err.status == PI_ERR_SHAPE && max_length == 0 && tokenizer_json != NULL &&
		strstr(err.message, "sequence dimension") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\": a text model with a symbolic sequence dimension needs option \"max_seq_length\"", name),
				 errdetail("%s.", err.message),
				 errhint("Give the max_seq_length of the model's sentence_bert_config.json in options.")));
	if (st != PI_OK)
		pg_infer_report(&err, name);
	for (int i = 0; i < model->ninputs; i++)
		dtypes[i] = info.input_dtypes[i];
	describe_and_release(name, model, dtypes, info.sequence_length, options, tokenizer_json != NULL, onnx,
						 writable ? &moves : NULL, NULL, NULL, &desc);
	if (desc.precision == PI_PRECISION_INT8)
		reduce_onnx(name, info.sequence_length, options, &blob);
	descriptor = pi_onnx_descriptor(&info, blob.lens[0], external_len);
	if (descriptor == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	stored = pstrdup(descriptor);
	free(descriptor);
	return store_version(name, stored, &desc, &blob, options, description, tokenizer_json);
}

/* The text of an optional text argument, or NULL. */
static char *
text_arg_or_null(FunctionCallInfo fcinfo, int arg)
{
	return PG_ARGISNULL(arg) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/*
 * The bytes of a bytea argument; *writable when detoasting made them a copy
 * of this call's own (else they may be a parameter's or a tuple's, not to
 * be written).
 */
static uint8 *
bytea_arg(FunctionCallInfo fcinfo, int arg, int64 *len, bool *writable)
{
	Datum		datum = PG_GETARG_DATUM(arg);
	bytea	   *value = PG_DETOAST_DATUM_PACKED(datum);

	*writable = (Pointer) value != DatumGetPointer(datum);
	*len = VARSIZE_ANY_EXHDR(value);
	return (uint8 *) VARDATA_ANY(value);
}

PG_FUNCTION_INFO_V1(pg_infer_create_model);

/* create_model(name, graph jsonb or text, weights bytea, options jsonb, description text) */
Datum
pg_infer_create_model(PG_FUNCTION_ARGS)
{
	char	   *name;
	uint8	   *weights;
	int64		weight_bytes;
	bool		writable;

	require_arg(fcinfo, 0, "model name");
	require_arg(fcinfo, 1, "graph");
	require_arg(fcinfo, 2, "weights");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	begin_create(name, "validating");
	weights = bytea_arg(fcinfo, 2, &weight_bytes, &writable);
	PG_RETURN_INT32(validate_and_store(name, jsonb_arg_text(fcinfo, 1), weights, weight_bytes,
									   jsonb_arg_text(fcinfo, 3), text_arg_or_null(fcinfo, 4)));
}

/* Reads a whole server file (of any size) into palloc'd memory, NUL-terminated. */
static char *
read_server_file(const char *path, int64 *len)
{
	FILE	   *file = AllocateFile(path, PG_BINARY_R);
	struct stat st;
	char	   *buf;

	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	buf = palloc_extended(st.st_size + 1, MCXT_ALLOC_HUGE);
	if (fread(buf, 1, st.st_size, file) != (size_t) st.st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	FreeFile(file);
	buf[st.st_size] = '\0';
	*len = st.st_size;
	return buf;
}

PG_FUNCTION_INFO_V1(pg_infer_create_model_onnx);

/* create_model(name, onnx bytea, external_data bytea, options jsonb, description text, tokenizer jsonb) */
Datum
pg_infer_create_model_onnx(PG_FUNCTION_ARGS)
{
	char	   *name;
	uint8	   *onnx;
	uint8	   *external = NULL;
	int64		onnx_len,
				external_len = 0;
	bool		writable,
				unused;

	require_arg(fcinfo, 0, "model name");
	require_arg(fcinfo, 1, "onnx");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	begin_create(name, "importing ONNX");
	onnx = bytea_arg(fcinfo, 1, &onnx_len, &writable);
	if (!PG_ARGISNULL(2))
		external = bytea_arg(fcinfo, 2, &external_len, &unused);
	PG_RETURN_INT32(import_and_store(name, onnx, onnx_len, writable, external, external_len,
									 jsonb_arg_text(fcinfo, 3), text_arg_or_null(fcinfo, 4),
									 PG_ARGISNULL(5) ? NULL : jsonb_arg_text(fcinfo, 5)));
}

PG_FUNCTION_INFO_V1(pg_infer_create_model_from_large_objects);

/*
 * create_model_from_large_objects(name, onnx_oid, external_data_oid, graph,
 * weights_oid, options, description): an ONNX file (and its external data),
 * or a native graph's safetensors weights, from large objects, read with the
 * caller's privileges.
 */
Datum
pg_infer_create_model_from_large_objects(PG_FUNCTION_ARGS)
{
	char	   *name;
	uint8	   *bytes;
	uint8	   *external = NULL;
	int64		len,
				external_len = 0;

	require_arg(fcinfo, 0, "model name");
	if (PG_ARGISNULL(1) == (PG_ARGISNULL(3) && PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("create_model_from_large_objects takes onnx_oid, or graph and weights_oid")));
	if (PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("external_data_oid goes with onnx_oid")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1))
	{
		require_arg(fcinfo, 3, "graph");
		require_arg(fcinfo, 4, "weights_oid");
		begin_create(name, "reading large object");
		bytes = large_object_read(PG_GETARG_OID(4), &len);
		PG_RETURN_INT32(validate_and_store(name, jsonb_arg_text(fcinfo, 3), bytes, len,
										   jsonb_arg_text(fcinfo, 5), text_arg_or_null(fcinfo, 6)));
	}
	begin_create(name, "reading large objects");
	bytes = large_object_read(PG_GETARG_OID(1), &len);
	if (!PG_ARGISNULL(2))
		external = large_object_read(PG_GETARG_OID(2), &external_len);
	PG_RETURN_INT32(import_and_store(name, bytes, len, true, external, external_len,
									 jsonb_arg_text(fcinfo, 5), text_arg_or_null(fcinfo, 6), NULL));
}

/* Raises unless the user may read model files on the server. */
static void
check_server_file_access(void)
{
	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read model files on the server"),
				 errdetail("Only superusers and members of pg_read_server_files may load models from server files.")));
}

PG_FUNCTION_INFO_V1(pg_infer_create_model_from_files);

/*
 * create_model_from_files(name, graph_path, weights_path, options, description):
 * for superusers and members of pg_read_server_files.
 */
Datum
pg_infer_create_model_from_files(PG_FUNCTION_ARGS)
{
	char	   *graph;
	char	   *weights;
	int64		graph_len,
				weights_len;

	char	   *name;

	check_server_file_access();
	require_arg(fcinfo, 0, "model name");
	require_arg(fcinfo, 1, "graph path");
	require_arg(fcinfo, 2, "weights path");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	begin_create(name, "reading files");
	graph = read_server_file(text_to_cstring(PG_GETARG_TEXT_PP(1)), &graph_len);
	if (strlen(graph) != (size_t) graph_len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("graph file \"%s\" contains a NUL byte", text_to_cstring(PG_GETARG_TEXT_PP(1)))));
	weights = read_server_file(text_to_cstring(PG_GETARG_TEXT_PP(2)), &weights_len);
	PG_RETURN_INT32(validate_and_store(name, graph, (const uint8 *) weights, weights_len,
									   jsonb_arg_text(fcinfo, 3), text_arg_or_null(fcinfo, 4)));
}

/*
 * Raises unless path, with every symbolic link resolved, is a file inside
 * directory dir (also resolved).  The model file names its external data:
 * a link beside it must not lead to another file of the server.
 */
static void
require_inside(const char *path, const char *dir, const char *location)
{
	char	   *real_path = realpath(path, NULL);
	char	   *real_dir = realpath(dir, NULL);
	size_t		dir_len;
	bool		inside;

	if (real_path == NULL || real_dir == NULL)
	{
		int			save_errno = errno;

		free(real_path);
		free(real_dir);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve ONNX external data file \"%s\": %m", path)));
	}
	dir_len = strlen(real_dir);
	inside = strncmp(real_path, real_dir, dir_len) == 0 &&
		(real_path[dir_len] == '/' || (dir_len == 1 && real_dir[0] == '/'));
	free(real_path);
	free(real_dir);
	if (!inside)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ONNX external data location \"%s\" leads outside the model's directory", location),
				 errdetail("A symbolic link on its path points out of \"%s\"; external data must be a file in the model's directory.", dir)));
}

PG_FUNCTION_INFO_V1(pg_infer_create_model_from_onnx_file);

/*
 * create_model_from_onnx_file(name, path, options, description): an ONNX
 * file on the server, with the external data file its tensors name read
 * from the same directory; for superusers and members of pg_read_server_files.
 */
Datum
pg_infer_create_model_from_onnx_file(PG_FUNCTION_ARGS)
{
	char	   *path;
	char	   *onnx;
	char	   *external = NULL;
	int64		onnx_len,
				external_len = 0;
	char		location[MAXPGPATH];
	PiError		err = {0};
	char	   *name;

	check_server_file_access();
	require_arg(fcinfo, 0, "model name");
	require_arg(fcinfo, 1, "ONNX file path");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	begin_create(name, "reading files");
	onnx = read_server_file(path, &onnx_len);
	if (pi_onnx_external_location((const uint8 *) onnx, onnx_len, location, sizeof(location),
								  &err) != PI_OK)
		pg_infer_report(&err, name);
	if (location[0] != '\0')
	{
		char		dir[MAXPGPATH];
		char	   *external_path;

		/* the location names a file beside the model, never elsewhere */
		if (location[0] == '/' || strstr(location, "..") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ONNX external data location \"%s\" is not a file name beside the model", location),
					 errdetail("Locations must be relative and may not contain \"..\".")));
		strlcpy(dir, path, sizeof(dir));
		get_parent_directory(dir);
		external_path = psprintf("%s/%s", dir[0] ? dir : ".", location);
		require_inside(external_path, dir[0] ? dir : ".", location);
		external = read_server_file(external_path, &external_len);
	}
	PG_RETURN_INT32(import_and_store(name, (uint8 *) onnx, onnx_len, true, (const uint8 *) external,
									 external_len, jsonb_arg_text(fcinfo, 2), text_arg_or_null(fcinfo, 3),
									 NULL));
}
