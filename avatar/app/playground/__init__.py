"""The Gradio playground behind `emoavatar serve`: sliders and uploads in, renders, videos and judges' read-outs out.

Modules: `app` builds the Blocks and launches them; `state` owns what lives as long as the server
(the temp folder, the GL worker and its Session); `worker` runs every GL and recognizer call on one
thread; `limits` checks uploads; `errors` turns failures into one-line messages in the browser; `shading`
holds the Shading checkboxes (the renderer's appearance switches) the Expression and Speech renders take;
`expression`, `speech`, `portrait`, `fidelity` hold each tab's layout and callbacks. Everything goes
through the facade (`avatar.app.facade`, `session`, `judges`, `fidelity`); nothing here poses, renders
or scores on its own. gradio is imported only inside these modules (`pip install emoavatar[playground]`).
"""
