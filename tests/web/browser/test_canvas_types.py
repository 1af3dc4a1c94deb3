"""The canvas's socket type rule (which output may feed which input), run in the page."""

TYPES = """
async () => {
  const { typesMatch } = await import('/static/types.js');
  return [typesMatch('LATENT', 'MODEL'), typesMatch('*', 'MODEL'), typesMatch('IMAGE,MASK', 'MASK'),
          typesMatch('INT', 'FLOAT,STRING')];
}
"""


def test_socket_types_match_as_the_server_checks_them(canvas):
    assert canvas.page.evaluate(TYPES) == [False, True, True, False]
