/* Built with the parent project's flags only (see CMakeLists.txt). */
int main(void)
{
    int unused_on_purpose;
    return 0;
}
