"""The I/O runtime: interfaces, sockets and the asyncio driver around the sans-IO core."""
