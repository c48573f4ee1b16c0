"""The proxy's control plane: who may pass which route and to which upstream, and the tokens that
open previews and desktops in a browser."""
