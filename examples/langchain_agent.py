"""agentmem inside LangChain 1.x: a chain with long-term chat history, and an agent
with a long-term store.

1. A chat chain (LCEL) wrapped in `RunnableWithMessageHistory`: every message is
   written into agentmem by `AgentMemChatMessageHistory`, and `AgentMemRetriever`
   recalls what earlier sessions said before the model answers.
2. An agent from `langchain.agents.create_agent` with `store=AgentMemStore(memory)`:
   a middleware recalls the user's notes from the store into the system prompt before
   the model is called, and another writes a note after each turn. The notes are
   agentmem units too: `Memory.search` finds them beside the conversation.

The model is any chat model served by vLLM's OpenAI-compatible server (see
examples/chatbot.py for starting one with the small packaged model):

    pip install 'agentmem-local[examples]'
    python examples/langchain_agent.py --server http://127.0.0.1:8000/v1 --model smollm2

A small model answers poorly; what the example shows is what is recalled and stored.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentState, ModelRequest, after_agent, dynamic_prompt
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnablePassthrough
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime

from agentmem import Memory
from agentmem.integrations.langchain import (
    AgentMemChatMessageHistory,
    AgentMemRetriever,
    AgentMemStore,
)

USER = "alice"


def format_docs(docs: list[Document]) -> str:
    """The recalled memories as dated lines for the prompt."""
    return "\n".join(f"[{d.metadata['timestamp'][:10]}] {d.page_content}" for d in docs) \
        or "(nothing yet)"


def chain_demo(memory: Memory, model: ChatOpenAI) -> None:
    def history(session_id: str) -> AgentMemChatMessageHistory:
        return AgentMemChatMessageHistory(memory, USER, session_id)

    # an earlier conversation, as a previous run of the chain would have stored it
    history("monday").add_messages([
        HumanMessage("I'm training for the Lisbon half marathon in October.",
                     additional_kwargs={"timestamp": "2024-03-04T08:00:00"}),
        AIMessage("Great goal! How many days a week do you run?",
                  additional_kwargs={"timestamp": "2024-03-04T08:00:05"}),
        HumanMessage("Four days, and my knee hurts after long runs.",
                     additional_kwargs={"timestamp": "2024-03-04T08:01:00"}),
    ])

    retriever = AgentMemRetriever(memory=memory, user_id=USER, k=3)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are a friendly running coach. What you remember about the "
                   "user from earlier conversations:\n{memories}"),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ])
    chain = (RunnablePassthrough.assign(
                 memories=itemgetter("question") | retriever | format_docs)
             | prompt | model | StrOutputParser())
    # langchain-core 1.x marks RunnableWithMessageHistory deprecated in favour of
    # LangGraph persistence (the agent below); many chains still use it, so it is shown.
    warnings.filterwarnings("ignore", message="RunnableWithMessageHistory is deprecated")
    chat = RunnableWithMessageHistory(chain, history, input_messages_key="question",
                                      history_messages_key="history")

    question = "Which race am I training for, and what should I watch out for?"
    print("== chain with message history and retriever ==")
    print("recalled:\n" + format_docs(retriever.invoke(question)))
    answer = chat.invoke({"question": question},
                         config={"configurable": {"session_id": "tuesday"}})
    print(f"Q: {question}\nA: {answer}")
    stored = history("tuesday").messages
    print(f"session 'tuesday' now holds {len(stored)} messages in agentmem\n")


@dataclass
class Context:
    """Who the agent is talking to (LangGraph runtime context)."""

    user_id: str


@dynamic_prompt
def recall_notes(request: ModelRequest) -> str:
    """Put the user's notes from the long-term store into the system prompt."""
    user = request.runtime.context.user_id
    question = str(request.state["messages"][-1].content)
    assert request.runtime.store is not None
    notes = request.runtime.store.search((user, "notes"), query=question, limit=3)
    lines = "\n".join(f"- {n.value['note']}" for n in notes) or "(none)"
    print(f"recalled notes:\n{lines}")
    return f"You are a helpful assistant. Notes about the user:\n{lines}"


@after_agent
def remember_turn(state: AgentState[Any], runtime: Runtime[Context]) -> None:
    """Write what the user said this turn as a note in the long-term store."""
    said = [m for m in state["messages"] if isinstance(m, HumanMessage)][-1]
    assert runtime.store is not None
    key = f"note-{len(runtime.store.search((runtime.context.user_id, 'notes'), limit=100))}"
    runtime.store.put((runtime.context.user_id, "notes"), key, {"note": str(said.content)})
    return None


def agent_demo(memory: Memory, model: ChatOpenAI) -> None:
    store = AgentMemStore(memory)
    agent = create_agent(model, tools=[], middleware=[recall_notes, remember_turn],
                         context_schema=Context, store=store)
    print("== agent with the agentmem long-term store ==")
    for text in ("Please remember that I am vegetarian and allergic to walnuts.",
                 "Suggest a dinner for tonight."):
        out = agent.invoke({"messages": [HumanMessage(text)]},
                           context=Context(user_id=USER))
        print(f"Q: {text}\nA: {out['messages'][-1].content}\n")
    notes = store.search((USER, "notes"))
    print(f"the store holds {len(notes)} notes for {USER}; agentmem search finds them too:")
    for hit in memory.search("walnut allergy", user_id=USER, k=2):
        print(f"  {hit.kind:6} {hit.text.splitlines()[0][:90]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:8000/v1",
                    help="the vLLM server's OpenAI-compatible base URL")
    ap.add_argument("--model", default="smollm2", help="the served model name")
    ap.add_argument("--path", default=None,
                    help="memory folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--max-tokens", type=int, default=128, help="answer length limit")
    args = ap.parse_args()

    model = ChatOpenAI(base_url=args.server, model=args.model, api_key="EMPTY",
                       max_completion_tokens=args.max_tokens, temperature=0)
    tmp = None if args.path else tempfile.mkdtemp(prefix="agentmem-langchain-")
    path = args.path or str(Path(tmp or ".") / "memdata")
    try:
        with Memory(path=path) as memory:
            chain_demo(memory, model)
            agent_demo(memory, model)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
