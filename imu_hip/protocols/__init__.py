"""Wire protocols: pure bytes -> blocks decoders, one module per protocol (no I/O).

``names()`` lists the registered protocols; ``decoder(name)`` returns a fresh decoder.
"""
