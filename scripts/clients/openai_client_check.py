"""The official `openai` client (and LangChain's OpenAI wrappers) against a live adapter-serve:
completions, chat and models (and, with --stream, streaming) must give exactly what /v1/summarize
gives for the same encoder input.

Greedy decoding (temperature 0) is deterministic, so equality is exact. Summarize applies the lab
prompt template; the completion is sent the template-expanded text (prompt = encoder input as
given), and the chat sends the template's two halves as a system and a user message, which the
server joins with a blank line into the same text.
"""
import argparse
import json
import sys
import urllib.request

import openai

TEMPLATE = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
SYSTEM, USER = "Summarize the following conversation.", "{dialogue}\n\nSummary: "
assert SYSTEM + "\n\n" + USER == TEMPLATE
MAX_TOKENS = 20
EOS = 1
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def summarize(base_url, dialogue, adapter):
    body = {"dialogue": dialogue, "return_token_ids": True, "parameters": {"max_new_tokens": MAX_TOKENS}}
    if adapter != "base":
        body["adapter"] = adapter.split("+")
    req = urllib.request.Request(base_url + "/v1/summarize", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r), r.headers.get("X-Adapter")


def expected_finish(ids):
    return "stop" if ids and ids[-1] == EOS else "length"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--dialogues", required=True, help="a DialogSum .jsonl file")
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--adapters", nargs="*", default=[], help="served adapter names (a+b for a stacked pair)")
    ap.add_argument("--base-id", required=True)
    ap.add_argument("--stream", action="store_true", help="also check streamed completions and chats (stream=True)")
    args = ap.parse_args()

    client = openai.OpenAI(base_url=args.base_url + "/v1", api_key="none")
    dialogues = [json.loads(line)["dialogue"] for line in open(args.dialogues)][: args.count]

    models = client.models.list()
    ids = [m.id for m in models.data]
    listed = [a for a in args.adapters if "+" not in a]
    check(ids == [args.base_id] + sorted(listed), f"models.list ids {ids}")
    for m in models.data:
        check(m.object == "model" and m.owned_by == "adapter-serve" and isinstance(m.created, int), f"model {m.id} fields")
        check((getattr(m, "parent", None) == args.base_id) == (m.id != args.base_id), f"model {m.id} parent")
    for a in listed:
        check(client.models.retrieve(a).id == a, f"models.retrieve {a}")

    for model in ["base"] + args.adapters:
        for i, dialogue in enumerate(dialogues):
            ref, ref_adapter = summarize(args.base_url, dialogue, model)
            tokens = len(ref["token_ids"])
            served = args.base_id if model == "base" else model
            label = f"{model} dialogue {i}"

            raw = client.completions.with_raw_response.create(
                model=model, prompt=TEMPLATE.replace("{dialogue}", dialogue), temperature=0, max_tokens=MAX_TOKENS)
            c = raw.parse()
            check(c.choices[0].text == ref["summary"], f"completion text == summarize ({label})")
            check(c.usage.completion_tokens == tokens, f"completion tokens == summarize token_ids ({label})")
            check(c.usage.prompt_tokens == ref["usage"]["input_tokens"], f"completion prompt tokens ({label})")
            check(c.choices[0].finish_reason == expected_finish(ref["token_ids"]), f"completion finish_reason ({label})")
            check(c.model == served and raw.headers.get("x-adapter") == ref_adapter, f"completion model/X-Adapter ({label})")
            check(bool(c._request_id) and c._request_id == raw.headers.get("x-request-id"), f"completion request id ({label})")

            chat = client.chat.completions.create(
                model=model, temperature=0, max_tokens=MAX_TOKENS,
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER.replace("{dialogue}", dialogue)}])
            check(chat.choices[0].message.content == ref["summary"], f"chat content == summarize ({label})")
            check(chat.usage.completion_tokens == tokens, f"chat tokens == summarize token_ids ({label})")
            check(chat.model == served and chat.choices[0].finish_reason == expected_finish(ref["token_ids"]), f"chat model/finish ({label})")

            if args.stream:
                events = [e for e in client.completions.create(
                    model=model, prompt=TEMPLATE.replace("{dialogue}", dialogue), temperature=0,
                    max_tokens=MAX_TOKENS, stream=True) if e.choices]
                check("".join(e.choices[0].text for e in events) == ref["summary"], f"streamed completion == summarize ({label})")
                check(events[-1].choices[0].finish_reason == expected_finish(ref["token_ids"]), f"streamed completion finish_reason ({label})")
                check(all(e.model == served and e.object == "text_completion" for e in events), f"streamed completion model/object ({label})")
                chunks = [e for e in client.chat.completions.create(
                    model=model, temperature=0, max_tokens=MAX_TOKENS, stream=True,
                    messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER.replace("{dialogue}", dialogue)}])
                    if e.choices]
                check("".join(e.choices[0].delta.content or "" for e in chunks) == ref["summary"], f"streamed chat == summarize ({label})")
                check(chunks[0].choices[0].delta.role == "assistant", f"streamed chat starts with the role ({label})")
                check(chunks[-1].choices[0].finish_reason == expected_finish(ref["token_ids"]), f"streamed chat finish_reason ({label})")
                check(all(e.model == served and e.object == "chat.completion.chunk" for e in chunks), f"streamed chat model/object ({label})")

    # LangChain's OpenAI wrappers send OpenAI's other fields with neutral values (frequency_penalty 0,
    # n 1, ...); they must be accepted and change nothing.
    from langchain_openai import ChatOpenAI, OpenAI as LangChainOpenAI
    for model in ["base"] + args.adapters[:1]:
        ref, _ = summarize(args.base_url, dialogues[0], model)
        chat = ChatOpenAI(base_url=args.base_url + "/v1", api_key="none", model=model, temperature=0, max_tokens=MAX_TOKENS)
        reply = chat.invoke([("system", SYSTEM), ("user", USER.replace("{dialogue}", dialogues[0]))])
        check(reply.content == ref["summary"], f"LangChain ChatOpenAI == summarize ({model})")
        llm = LangChainOpenAI(base_url=args.base_url + "/v1", api_key="none", model=model, temperature=0, max_tokens=MAX_TOKENS)
        check(llm.invoke(TEMPLATE.replace("{dialogue}", dialogues[0])) == ref["summary"], f"LangChain OpenAI == summarize ({model})")

    if args.stream:
        ref, _ = summarize(args.base_url, dialogues[0], "base")
        chat = ChatOpenAI(base_url=args.base_url + "/v1", api_key="none", model="base", temperature=0, max_tokens=MAX_TOKENS)
        streamed = "".join(c.content for c in chat.stream([("system", SYSTEM), ("user", USER.replace("{dialogue}", dialogues[0]))]))
        check(streamed == ref["summary"], "LangChain ChatOpenAI.stream == summarize (base)")
        try:
            client.completions.create(model="no-such-adapter", prompt="x", stream=True)
            check(False, "a streamed request for an unknown model raises NotFoundError")
        except openai.NotFoundError as e:
            check(e.code == "model_not_found", "a streamed request for an unknown model raises NotFoundError")
    try:
        client.completions.create(model="no-such-adapter", prompt="x")
        check(False, "unknown model raises NotFoundError")
    except openai.NotFoundError as e:
        check(e.code == "model_not_found" and e.param == "model", "unknown model raises NotFoundError(model_not_found)")
    try:
        client.chat.completions.create(model="base", messages=[{"role": "user", "content": "x"}], frequency_penalty=1)
        check(False, "a non-neutral unsupported field raises BadRequestError")
    except openai.BadRequestError as e:
        check(e.code == "unsupported_parameter" and e.param == "frequency_penalty", "frequency_penalty=1 raises BadRequestError")

    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
