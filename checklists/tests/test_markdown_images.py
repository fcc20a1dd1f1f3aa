"""Item text and descriptions never load an image from another origin (no tracking pixels)."""

import pytest
from django.urls import reverse

from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.templatetags.ctrlready import block_md, inline_md
from core.actors import SYSTEM


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example/p.gif?u=1",
        "http://tracker.example/p.gif",
        "//tracker.example/p.gif",
        "HTTPS://tracker.example/p.gif",
    ],
)
def test_an_image_from_another_origin_becomes_a_link(src):
    for render in (inline_md, block_md):
        html = render(f"Check ![pixel]({src}) now")
        assert "<img" not in html
        assert ">pixel</a>" in html and 'rel="nofollow noopener noreferrer"' in html


def test_images_of_this_site_and_inline_data_still_show():
    assert '<img src="/static/diagram.png" alt="diagram"' in inline_md("![diagram](/static/diagram.png)")
    assert "<img" in block_md("![dot](data:image/png;base64,iVBORw0KGgo=)")


def test_the_deployment_page_carries_no_foreign_image(client, people, environment):
    text = "# Pixels\n\nSee ![](https://tracker.example/section.gif)\n\n## Ops\n\n- [ ] Looks right ![p](https://tracker.example/item.gif)\n"
    checklist_import(markdown=text, actor=SYSTEM, source="cli")
    deployment = deployment_create(
        environment=environment, checklist_slug="pixels", release="v1", actor=people["engineer"], source="api"
    )
    client.force_login(people["viewer"])
    html = client.get(reverse("deployment", args=[deployment.pk])).content.decode()
    assert "tracker.example/item.gif" in html and "tracker.example/section.gif" in html
    assert '<img src="https://tracker' not in html
