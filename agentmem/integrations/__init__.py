"""Adapters to agent frameworks.

- :mod:`agentmem.integrations.langchain`: ``AgentMemChatMessageHistory``,
  ``AgentMemRetriever`` (langchain-core) and ``AgentMemStore`` (LangGraph; the
  ``langgraph`` extra).
- :mod:`agentmem.integrations.langgraph`: ``AgentMemStore`` itself.

Nothing is imported here, so ``import agentmem`` never pulls in a framework.
"""

__all__: list[str] = []
