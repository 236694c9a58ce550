"""Writes the OpenAPI 3.1 document of AdapterServe (Sources/API/openapi.json, linked as openapi.json
at the repository root and compiled into the server): `make_openapi.py OUT` writes it,
`make_openapi.py --check FILE` fails when FILE is not what this script generates. The routes must
match RouteTable in Sources/API/Routes.swift (OpenAPIRouteTests checks both ways)."""
import json
S = lambda **k: k
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def nullable(t): return {"type": [t, "null"]} if isinstance(t, str) else {"anyOf": [t, {"type": "null"}]}
H_REQ = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
def hdrs(extra=None):
    h = dict(H_REQ)
    if extra: h.update(extra)
    return h
def resp(desc, schema=None, ctype="application/json", headers=None):
    r = {"description": desc, "headers": hdrs(headers)}
    if schema is not None: r["content"] = {ctype: {"schema": schema}}
    return r
def err(desc, openai=False, retry=False, allow=False):
    h = {}
    if retry: h["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if allow: h["Allow"] = {"$ref": "#/components/headers/Allow"}
    return resp(desc, ref("OpenAIError" if openai else "Error"), headers=h)
def errors(codes, openai=False):
    d = {"400": "The request is malformed or a field is invalid; the message names it.",
         "401": "Credentials are missing or wrong: the admin token on admin calls (when one is configured), an API key on the others (when keys are configured).",
         "404": "The named adapter, task or model does not exist.",
         "405": "The method is not allowed on this path; Allow lists those that are.",
         "409": "The name is taken (PUT without ?replace=true), the adapter still serves a task, or its path in the store is a symbolic link.",
         "413": "The body is larger than the server's limit.",
         "422": "The request is well-formed but cannot be served (parameters out of range, input too long, invalid adapter).",
         "503": "The queue is full, or the server is starting or draining; retry after Retry-After seconds.",
         "504": "Generation did not finish within the request timeout.",
         "507": "The adapter does not fit in the adapter memory budget."}
    out = {}
    for c in codes:
        out[str(c)] = err(d[str(c)], openai, retry=(c == 503), allow=(c == 405))
    return out
GEN = {"400", "401", "404", "405", "413", "422", "503", "504"}

adapter_ref = {"type": "object", "required": ["name", "kind", "sha256"], "properties": {
    "name": {"type": "string", "description": "The adapter's name, a+b when stacked, or combine(a:0.7,b:0.3) for a combination (members in name order)."},
    "kind": {"type": "string", "description": "lora, dora, adalora, ia3, prompt_tuning, prefix_tuning, two joined by + when stacked, or combination"},
    "sha256": {"type": "string", "description": "Of adapter_model.safetensors; joined by + when stacked or combined."},
    "combine": {"type": "array", "description": "A combination's members in name order, with the weight and the SHA-256 each served with.",
                "items": {"type": "object", "required": ["name", "weight", "sha256"], "properties": {
                    "name": {"type": "string"}, "weight": {"type": "number"}, "sha256": {"type": "string"}}}}}}
combine_req = {"type": "object", "required": ["combine"], "additionalProperties": False, "properties": {
    "combine": {"type": "array", "minItems": 1, "maxItems": 8,
                "description": "LoRAs to combine for this request: the weighted sum of their deltas, sum_i weight_i * scale_i * B_i A_i (PEFT's add_weighted_adapter cat). Each name at most once; only plain LoRA adapters.",
                "items": {"type": "object", "required": ["name", "weight"], "additionalProperties": False, "properties": {
                    "name": {"type": "string"}, "weight": {"type": "number"}}}}}}
gen_params = {"type": "object", "additionalProperties": False,
  "description": "Decoding settings with transformers' GenerationConfig names and defaults.",
  "properties": {
    "max_new_tokens": {"type": "integer", "default": 64}, "min_new_tokens": {"type": "integer", "default": 0},
    "num_beams": {"type": "integer", "default": 1}, "do_sample": {"type": "boolean", "default": False},
    "temperature": {"type": "number", "default": 1}, "top_k": {"type": "integer", "default": 50},
    "top_p": {"type": "number", "default": 1}, "seed": {"type": "integer", "minimum": 0},
    "repetition_penalty": {"type": "number", "default": 1}, "no_repeat_ngram_size": {"type": "integer", "default": 0},
    "length_penalty": {"type": "number", "default": 1},
    "early_stopping": {"oneOf": [{"type": "boolean"}, {"const": "never"}], "default": False}}}
adapter = {"type": "object", "required": ["name", "kind", "sha256", "parameter_count", "bytes", "created_at", "loaded", "pinned", "tasks"],
  "properties": {"name": {"type": "string"}, "kind": {"type": "string", "enum": ["lora", "dora", "adalora", "ia3", "prompt_tuning", "prefix_tuning"]}, "sha256": {"type": "string"},
    "parameter_count": {"type": "integer"}, "bytes": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
    "loaded": {"type": "boolean"}, "pinned": {"type": "boolean"}, "tasks": {"type": "array", "items": {"type": "string"}},
    "rank": {"type": "integer"}, "target_modules": {"type": "array", "items": {"type": "string"}},
    "target_count": {"type": "integer"}, "virtual_tokens": {"type": "integer"}}}
rouge_props = {k: {"type": "number"} for k in ["rouge1", "rouge2", "rougeL", "rougeLsum"]}
eval_row = {"type": "object", "required": ["candidate", "rouge1", "rouge2", "rougeL", "rougeLsum", "mean_output_tokens", "summaries_per_second"],
  "properties": dict(candidate={"type": "string"}, **rouge_props, mean_output_tokens={"type": "number"},
    summaries_per_second={"type": "number"}, predictions={"type": "array", "items": {"type": "string"}},
    change_vs_base={"type": "object", "properties": rouge_props})}

stop = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 4}, {"type": "null"}],
        "description": "Text is cut before the earliest stop sequence; finish_reason becomes \"stop\"."}
neutral_doc = ("Accepted only with its neutral value (null or the one given); any other value is a 400 "
               "unsupported_parameter, because this server would not honour it.")
def neutral(schema, desc=neutral_doc):
    s = dict(schema); s["description"] = desc; return s
common_props = {
  "model": {"type": "string", "description": "An adapter name, a LoRA and a soft prompt stacked as \"lora+prompt\", a task name (served by its active adapter), the base model's id, or \"base\"."},
  "max_tokens": nullable("integer"),
  "temperature": {"type": ["number", "null"], "default": 1, "description": "0 is greedy decoding; above 0 samples with this temperature."},
  "top_p": {"type": ["number", "null"], "default": 1},
  "n": {"type": ["integer", "null"], "default": 1, "minimum": 1, "maximum": 8, "description": "Choices per prompt (n times the prompts at most 8); with a seed, choice i samples with seed + i."},
  "seed": nullable("integer"),
  "stop": stop,
  "stream": {"type": ["boolean", "null"], "default": False, "description": "true answers with server-sent events (text/event-stream) as OpenAI does: data-only events, each a chunk object (CompletionChunk or ChatCompletionChunk) carrying the new text of one choice, then a chunk with that choice's finish_reason, and finally `data: [DONE]`. Joined, a choice's chunks equal the non-streamed text. Errors found before the first token are ordinary JSON error responses; a failure after it ends the stream with a data event holding the error object and no [DONE]."},
  "num_beams": {"type": ["integer", "null"], "minimum": 1, "maximum": 16, "description": "Extension: beam search (needs temperature 0)."},
  "frequency_penalty": neutral({"type": ["number", "null"]}),
  "presence_penalty": neutral({"type": ["number", "null"]}),
  "logit_bias": neutral({"type": ["object", "null"]}),
  "user": {"type": ["string", "null"], "description": "Accepted and ignored."},
  "stream_options": neutral({"type": "null"}),
}
completion_req = {"type": "object", "required": ["model", "prompt"], "additionalProperties": False,
  "properties": dict(common_props, **{
    "prompt": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 8}],
               "description": "The encoder input exactly as given (no prompt template); a list gives n choices per prompt."},
    "best_of": neutral({"type": ["integer", "null"]}, "Accepted only when null or equal to n."),
    "logprobs": neutral({"type": ["boolean", "integer", "null"]}),
    "echo": neutral({"type": ["boolean", "null"]}),
    "suffix": neutral({"type": ["string", "null"]}),
  })}
completion_req["properties"]["max_tokens"] = {"type": ["integer", "null"], "default": 16}
completion_req["examples"] = [{"model": "base", "prompt": "Summarize: #Person1#: Hi.", "temperature": 0, "max_tokens": 8},
                              {"model": "lora-qv", "prompt": ["Hello", "world"], "n": 2, "seed": 1, "max_tokens": 4, "stop": ["."]}]
message = {"type": "object", "required": ["role", "content"], "properties": {
  "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
  "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "required": ["type", "text"],
               "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]},
  "name": {"type": ["string", "null"]},
  "refusal": {"type": "null"}, "tool_calls": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
  "function_call": {"type": "null"}, "audio": {"type": "null"}}, "additionalProperties": False}
chat_req = {"type": "object", "required": ["model", "messages"], "additionalProperties": False,
  "properties": dict(common_props, **{
    "messages": {"type": "array", "items": message, "minItems": 1,
                 "description": "The encoder input is the messages' contents joined by a blank line, with no template."},
    "max_completion_tokens": nullable("integer"),
    "logprobs": neutral({"type": ["boolean", "null"]}),
    "top_logprobs": neutral({"type": ["integer", "null"]}),
    "response_format": neutral({"type": ["object", "null"]}),
    "tools": neutral({"type": ["array", "null"]}), "functions": neutral({"type": ["array", "null"]}),
    "tool_choice": neutral({"type": ["string", "object", "null"]}), "function_call": neutral({"type": ["string", "object", "null"]}),
    "parallel_tool_calls": neutral({"type": ["boolean", "null"]}), "service_tier": neutral({"type": ["string", "null"]}),
    "metadata": neutral({"type": ["object", "null"]}), "store": neutral({"type": ["boolean", "null"]}),
    "modalities": neutral({"type": ["array", "null"]}),
    **{k: neutral({"type": "null"}) for k in ["reasoning_effort", "prediction", "audio", "web_search_options", "verbosity"]},
  })}
chat_req["properties"]["max_tokens"] = {"type": ["integer", "null"], "description": "Defaults to the server's max_new_tokens_cap."}
chat_req["examples"] = [{"model": "prompt-20", "temperature": 0, "max_tokens": 8,
                         "messages": [{"role": "system", "content": "Summarize the following conversation."},
                                      {"role": "user", "content": "#Person1#: Hi.\n\nSummary: "}]}]
usage = {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
         "properties": {k: {"type": "integer"} for k in ["prompt_tokens", "completion_tokens", "total_tokens"]}}
finish = {"type": "string", "enum": ["stop", "length"]}
completion = {"type": "object", "required": ["id", "object", "created", "model", "choices", "usage"], "properties": {
  "id": {"type": "string"}, "object": {"const": "text_completion"}, "created": {"type": "integer"},
  "model": {"type": "string", "description": "The adapter that served (a+b when stacked), or the base model's id."},
  "choices": {"type": "array", "items": {"type": "object", "required": ["index", "text", "finish_reason", "logprobs"], "properties": {
     "index": {"type": "integer"}, "text": {"type": "string"}, "finish_reason": finish, "logprobs": {"type": "null"}}}},
  "usage": ref("Usage")}}
chat = {"type": "object", "required": ["id", "object", "created", "model", "choices", "usage"], "properties": {
  "id": {"type": "string"}, "object": {"const": "chat.completion"}, "created": {"type": "integer"},
  "model": {"type": "string", "description": "The adapter that served (a+b when stacked), or the base model's id."},
  "choices": {"type": "array", "items": {"type": "object", "required": ["index", "message", "finish_reason", "logprobs"], "properties": {
     "index": {"type": "integer"}, "finish_reason": finish, "logprobs": {"type": "null"},
     "message": {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"const": "assistant"}, "content": {"type": "string"}, "refusal": {"type": "null"}}}}}},
  "usage": ref("Usage")}}
model = {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
  "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": {"type": "string"},
  "parent": {"type": "string", "description": "Adapters only: the base model's id."}, "root": {"type": "string"}}}

x_adapter = {"X-Adapter": {"$ref": "#/components/headers/X-Adapter"}}
def streamed(r, what):
    """Adds the text/event-stream form of a 200 answered with stream: true."""
    r["description"] += " With \"stream\": true: " + what
    r["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    return r
chunk_choice = {"type": "object", "required": ["index", "finish_reason", "logprobs"], "properties": {
  "index": {"type": "integer"}, "logprobs": {"type": "null"}, "finish_reason": {"anyOf": [finish, {"type": "null"}]}}}
completion_chunk = {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
  "id": {"type": "string"}, "object": {"const": "text_completion"}, "created": {"type": "integer"}, "model": {"type": "string"},
  "choices": {"type": "array", "items": dict(chunk_choice, required=chunk_choice["required"] + ["text"],
              properties=dict(chunk_choice["properties"], text={"type": "string"}))}}}
chat_chunk = {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
  "id": {"type": "string"}, "object": {"const": "chat.completion.chunk"}, "created": {"type": "integer"}, "model": {"type": "string"},
  "choices": {"type": "array", "items": dict(chunk_choice, required=chunk_choice["required"] + ["delta"],
              properties=dict(chunk_choice["properties"], delta={"type": "object", "properties": {
                  "role": {"const": "assistant"}, "content": {"type": "string"}}}))}}}
summary_token_event = {"type": "object", "required": ["text", "output_tokens"], "properties": {
  "text": {"type": "string", "description": "The summary so far (a prefix of the final summary)."},
  "output_tokens": {"type": "integer", "description": "Tokens generated so far."}}}
def body(schema, required=True): return {"required": required, "content": {"application/json": {"schema": schema}}}
name_param = {"name": "name", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}, "example": "lora-qv",
              "description": "Adapter name: 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit (others get 400 invalid_name)."}
task_param = {"name": "task", "in": "path", "required": True, "schema": {"type": "string"}, "example": "dialogsum"}
model_param = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}, "example": "base"}
auth = [{}, {"adminToken": []}]
status_obj = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}

paths = {
 "/healthz": {
   "get": {"operationId": "health", "summary": "Liveness: the process is up.", "responses": {"200": resp("Alive.", status_obj), **errors([405])}},
   "head": {"operationId": "healthHead", "summary": "Liveness without a body.", "responses": {"200": resp("Alive."), **errors([405])}}},
 "/readyz": {
   "get": {"operationId": "ready", "summary": "Readiness: the base and every routed adapter are loaded.",
           "responses": {"200": resp("Ready.", status_obj), "503": resp("Starting or draining.", status_obj, headers={"Retry-After": {"$ref": "#/components/headers/Retry-After"}}), **errors([405])}},
   "head": {"operationId": "readyHead", "summary": "Readiness without a body.",
           "responses": {"200": resp("Ready."), "503": resp("Starting or draining.", headers={"Retry-After": {"$ref": "#/components/headers/Retry-After"}}), **errors([405])}}},
 "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus text exposition.",
   "responses": {"200": resp("Metrics.", {"type": "string"}, "text/plain"), **errors([405])}}},
 "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.",
   "responses": {"200": resp("The OpenAPI document.", {"type": "object"}), **errors([405])}}},
 "/v1/summarize": {"post": {"operationId": "summarize", "summary": "Summarize a dialogue with an adapter, a task's adapter or the base model.",
   "requestBody": body(ref("SummarizeRequest")),
   "responses": {"200": streamed(resp("The summary.", ref("SummarizeResponse"), headers=x_adapter),
       "server-sent events, one `event: token` per generated token whose data is a SummarizeTokenEvent, then one `event: summary` whose data is the SummarizeResponse above (a failure after the first event sends `event: error` with the Error object instead). Beam search sends no token events."),
       **errors(sorted(GEN))}}},
 "/v1/evaluate": {"post": {"operationId": "evaluate", "summary": "ROUGE of the base and adapters on given dialogues and references.",
   "requestBody": body(ref("EvaluateRequest")),
   "responses": {"200": resp("One row per candidate.", ref("EvaluateResponse")), **errors(sorted(GEN))}}},
 "/v1/adapters": {"get": {"operationId": "listAdapters", "summary": "Every stored adapter.",
   "responses": {"200": resp("The adapters.", {"type": "object", "required": ["adapters"], "properties": {"adapters": {"type": "array", "items": ref("Adapter")}}}), **errors([401, 405])}}},
 "/v1/adapters/{name}": {"parameters": [name_param],
   "get": {"operationId": "getAdapter", "summary": "One adapter.", "responses": {"200": resp("The adapter.", ref("Adapter")), **errors([400, 401, 404, 405, 409])}},
   "put": {"operationId": "putAdapter", "summary": "Upload a PEFT adapter directory (multipart/form-data, .tar or .tar.gz).", "security": auth,
     "parameters": [{"name": "replace", "in": "query", "required": False, "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}}],
     "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "adapter_config.json": {"type": "string", "contentMediaType": "application/octet-stream"},
            "adapter_model.safetensors": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
        "application/x-tar": {"schema": {"type": "string", "contentMediaType": "application/x-tar"}},
        "application/gzip": {"schema": {"type": "string", "contentMediaType": "application/gzip"}}}},
     "responses": {"201": resp("Stored and available.", ref("Adapter")), **errors([400, 401, 405, 409, 413, 422, 503, 507])}},
   "delete": {"operationId": "deleteAdapter", "summary": "Delete an adapter (?force=true also removes its task routes).", "security": auth,
     "parameters": [{"name": "force", "in": "query", "required": False, "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}}],
     "responses": {"204": resp("Deleted."), **errors([400, 401, 404, 405, 409, 503])}}},
 "/v1/adapters/{name}/activate": {"parameters": [name_param],
   "post": {"operationId": "activateAdapter", "summary": "Route a task to this adapter (pins it in memory).", "security": auth,
     "requestBody": body({"type": "object", "required": ["task"], "additionalProperties": False, "properties": {"task": {"type": "string", "minLength": 1, "maxLength": 64}}}),
     "responses": {"200": resp("Activated.", {"type": "object", "required": ["task", "adapter"], "properties": {"task": {"type": "string"}, "adapter": {"type": "string"}}}),
                   **errors([400, 401, 404, 405, 409, 503])}}},
 "/v1/tasks": {"get": {"operationId": "listTasks", "summary": "Task to adapter routes.",
   "responses": {"200": resp("The routes.", {"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "items": {
       "type": "object", "required": ["task", "adapter"], "properties": {"task": {"type": "string"}, "adapter": {"type": "string"}}}}}}), **errors([401, 405])}}},
 "/v1/tasks/{task}": {"parameters": [task_param],
   "delete": {"operationId": "deleteTask", "summary": "Remove a task route.", "security": auth,
     "responses": {"204": resp("Removed."), **errors([401, 404, 405, 503])}}},
 "/v1/completions": {"post": {"operationId": "createCompletion", "summary": "OpenAI-compatible text completion; `model` picks the adapter.",
   "requestBody": body(ref("CreateCompletionRequest")),
   "responses": {"200": streamed(resp("The completion.", ref("Completion"), headers=x_adapter),
       "server-sent events: `data: ` + a CompletionChunk per piece of text, a chunk with each choice's finish_reason, then `data: [DONE]`."),
       **errors(sorted(GEN - {"413"}) + ["413"], openai=True)}}},
 "/v1/chat/completions": {"post": {"operationId": "createChatCompletion", "summary": "OpenAI-compatible chat completion; `model` picks the adapter.",
   "requestBody": body(ref("CreateChatCompletionRequest")),
   "responses": {"200": streamed(resp("The chat completion.", ref("ChatCompletion"), headers=x_adapter),
       "server-sent events: `data: ` + a ChatCompletionChunk per piece of text (the first of each choice carries delta.role), a chunk with each choice's finish_reason, then `data: [DONE]`."),
       **errors(sorted(GEN), openai=True)}}},
 "/v1/models": {"get": {"operationId": "listModels", "summary": "The base model and every adapter (with parent = the base).",
   "responses": {"200": resp("The models.", {"type": "object", "required": ["object", "data"], "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}}}),
                 **errors([401, 405], openai=True)}}},
 "/v1/models/{model}": {"parameters": [model_param],
   "get": {"operationId": "retrieveModel", "summary": "One model: the base (its id or \"base\") or an adapter.",
     "responses": {"200": resp("The model.", ref("Model")), **errors([401, 404, 405], openai=True)}}},
}
doc = {
 "openapi": "3.1.0",
 "info": {"title": "AdapterServe", "version": "1.0.0",
          "description": "One frozen FLAN-T5 on CPU serving many PEFT adapters (LoRA, soft prompts). Every response carries X-Request-Id (the client's, when it is at most 128 of [A-Za-z0-9._-], else a generated one). Errors are {\"error\": {\"code\", \"message\"}}, except on the OpenAI-compatible paths (/v1/completions, /v1/chat/completions, /v1/models), which use OpenAI's error shape."},
 "servers": [{"url": "http://127.0.0.1:8080"}],
 "paths": paths,
 "components": {
  "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer", "description": "Needed on adapter and task changes when admin_token is configured."}},
  "headers": {
   "X-Request-Id": {"description": "The request's id, as sent or generated; on every log line of the request.", "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"}},
   "X-Adapter": {"description": "The adapter that served (a+b when stacked, combine(a:0.7,b:0.3) when combined), or \"base\".", "schema": {"type": "string"}},
   "Retry-After": {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
   "Allow": {"description": "The methods this path allows.", "required": True, "schema": {"type": "string"}}},
  "schemas": {
   "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
       "code": {"type": "string", "description": "Stable and machine-readable."}, "message": {"type": "string", "description": "What to change."}}}}},
   "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
       "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
   "GenerationParameters": gen_params,
   "AdapterReference": adapter_ref,
   "SummarizeRequest": {"type": "object", "required": ["dialogue"], "additionalProperties": False, "properties": {
       "dialogue": {"type": "string"},
       "adapter": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}, combine_req, {"type": "null"}],
                   "description": "An adapter name, a LoRA and a soft prompt to stack, or {\"combine\": [{\"name\", \"weight\"}, ...]} to combine LoRAs."},
       "task": {"type": ["string", "null"]},
       "prompt_template": {"type": ["string", "null"], "description": "Must contain {dialogue}."},
       "parameters": {"anyOf": [ref("GenerationParameters"), {"type": "null"}]},
       "return_token_ids": {"type": ["boolean", "null"]},
       "stream": {"type": ["boolean", "null"], "default": False, "description": "true: server-sent events per token (see the 200 response)."}},
       "examples": [{"dialogue": "#Person1#: Hi.\n#Person2#: Hello.", "adapter": "lora-qv", "parameters": {"max_new_tokens": 8}, "return_token_ids": True},
                    {"dialogue": "#Person1#: Hi.\n#Person2#: Hello.", "adapter": {"combine": [{"name": "lora-qv", "weight": 0.7}]}, "parameters": {"max_new_tokens": 8}}]},
   "SummarizeResponse": {"type": "object", "required": ["summary", "adapter", "task", "usage", "timing_ms"], "properties": {
       "summary": {"type": "string"}, "adapter": {"anyOf": [ref("AdapterReference"), {"type": "null"}]}, "task": {"type": ["string", "null"]},
       "usage": {"type": "object", "required": ["input_tokens", "output_tokens"], "properties": {"input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"}}},
       "timing_ms": {"type": "object", "required": ["queue", "generation", "total"], "properties": {k: {"type": "number"} for k in ["queue", "generation", "total"]}},
       "token_ids": {"type": "array", "items": {"type": "integer"}}}},
   "EvaluateRequest": {"type": "object", "required": ["items"], "additionalProperties": False, "properties": {
       "items": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["dialogue", "reference"], "additionalProperties": False,
                 "properties": {"dialogue": {"type": "string"}, "reference": {"type": "string"}}}},
       "adapters": {"type": ["array", "null"], "items": {"type": "string"}, "minItems": 1, "maxItems": 8, "description": "\"base\", adapter names, or \"lora+prompt\"."},
       "prompt_template": {"type": ["string", "null"]},
       "parameters": {"anyOf": [ref("GenerationParameters"), {"type": "null"}]}},
       "examples": [{"items": [{"dialogue": "#Person1#: Hi.", "reference": "They greet."}], "adapters": ["base", "lora-qv"],
                     "parameters": {"max_new_tokens": 4}}]},
   "EvaluateResponse": {"type": "object", "required": ["items", "rows"], "properties": {"items": {"type": "integer"}, "rows": {"type": "array", "items": ref("EvaluationRow")}}},
   "EvaluationRow": eval_row,
   "Adapter": adapter,
   "CreateCompletionRequest": completion_req,
   "CreateChatCompletionRequest": chat_req,
   "Usage": usage,
   "Completion": completion,
   "ChatCompletion": chat,
   "Model": model,
   "CompletionChunk": completion_chunk,
   "ChatCompletionChunk": chat_chunk,
   "SummarizeTokenEvent": summary_token_event,
  }}}
import sys
text = json.dumps(doc, indent=2) + "\n"
if sys.argv[1] == "--check":
    if open(sys.argv[2]).read() != text:
        sys.exit(f"{sys.argv[2]} differs from what scripts/clients/make_openapi.py generates; run: python3 scripts/clients/make_openapi.py {sys.argv[2]}")
else:
    open(sys.argv[1], "w").write(text)
