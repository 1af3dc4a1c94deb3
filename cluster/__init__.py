"""Running prompts on Ray workers (`latentloom serve --cluster`): the routing rule, the worker actor, the server's
dispatcher. Ray is imported only when a cluster is asked for."""
