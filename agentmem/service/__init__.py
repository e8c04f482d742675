"""agentmem as a service: ``agentmem serve`` (an HTTP API and MCP tools over one
:class:`~agentmem.Memory`), the clients with Memory's API
(:class:`~agentmem.service.client.RemoteMemory`, and the asynchronous
:class:`~agentmem.service.aio.AsyncMemory`), and their shared wire contract
(:mod:`agentmem.service.wire`). See docs/service.md."""
